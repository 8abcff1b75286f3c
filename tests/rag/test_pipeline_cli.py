"""``ragdistill ab pipeline SPEC``: the offline A/B from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from tests.core.tiny_beir import write_tiny_beir
from tests.generator.tiny_squad import write_tiny_squad


def _ab(*args: str) -> Result:
    from ragdistill.cli import build_cli

    return CliRunner().invoke(build_cli(), ["ab", "pipeline", *args])


def _spec(path: Path, spec: dict[str, Any]) -> Path:
    lines = [f"name = {json.dumps(spec['name'])}", f"k = {spec['k']}", "contexts = 2",
             "max_new_tokens = 4", "ablate = true", "[cost]", "hardware_per_hour = 1.0"]  # fmt: skip
    for arm, stages in spec["arms"].items():
        for stage, table in stages.items():
            lines.append(f"[arms.{arm}.{stage}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ab_pipeline_on_squad_writes_the_report_and_resumes(
    tmp_path: Path, two_arm_spec: dict[str, Any]
) -> None:
    squad = write_tiny_squad(tmp_path / "squad.json", articles=4, questions=2)
    spec = _spec(tmp_path / "pipeline.toml", two_arm_spec)
    out = tmp_path / "ab"
    args = [str(spec), "--data-path", str(squad), "--data-option", "eval_articles=2",
            "--max-questions", "5", "--out", str(out), "--n-bootstrap", "100", "-q"]  # fmt: skip
    first = _ab(*args)
    assert first.exit_code == 0, first.output
    ab = json.loads((out / "ab.json").read_text())
    assert [a["name"] for a in ab["arms"]] == ["teacher", "student", "teacher+reranker", "teacher+generator"]  # fmt: skip
    assert all(a["n"] == 5 for a in ab["arms"])
    assert ab["dataset"]["evaluated_questions"] == 5
    assert "pipeline A/B tiny (offline), control = teacher" in first.output
    assert (out / "report.html").is_file()
    lines = (out / "answers" / "student.jsonl").read_text().splitlines()
    again = _ab(*args)
    assert again.exit_code == 0, again.output
    assert (out / "answers" / "student.jsonl").read_text().splitlines() == lines


def test_without_gold_answers_the_headline_falls_back_to_context_recall(
    tmp_path: Path, two_arm_spec: dict[str, Any]
) -> None:
    beir = write_tiny_beir(tmp_path / "beir")
    spec = _spec(tmp_path / "pipeline.toml", two_arm_spec)
    out = tmp_path / "ab"
    result = _ab(str(spec), "--dataset", "beir", "--data-path", str(beir), "--max-questions", "4",
                 "--out", str(out), "--warmup", "0", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    ab = json.loads((out / "ab.json").read_text())
    control = ab["arms"][0]
    assert control["quality"]["f1"] != control["quality"]["f1"]  # NaN: no gold answers
    assert 0 <= control["quality"]["context_recall"] <= 1
    assert "context recall" in result.output


def test_a_missing_spec_is_named(tmp_path: Path) -> None:
    result = _ab(str(tmp_path / "nope.toml"), "--out", str(tmp_path / "ab"))
    assert result.exit_code == 1
    assert "nope.toml does not exist" in result.output
