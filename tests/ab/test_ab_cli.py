"""`ragdistill ab embedder` end to end on tiny real sentence-transformers models and a BEIR folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ab_fixtures import TOPICS
from click.testing import CliRunner

from ragdistill.cli import build_cli

pytest.importorskip("chromadb")


def beir_folder(root: Path) -> Path:
    root.mkdir()
    with open(root / "corpus.jsonl", "w") as fh:
        for i, topic in enumerate(TOPICS):
            fh.write(json.dumps({"_id": f"d{i}", "title": "", "text": f"the {topic}"}) + "\n")
    with open(root / "queries.jsonl", "w") as fh:
        for i, topic in enumerate(TOPICS):
            fh.write(json.dumps({"_id": f"q{i}", "text": topic.split()[0]}) + "\n")
    (root / "qrels").mkdir()
    rows = [f"q{i}\td{i}\t1" for i in range(len(TOPICS))]
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows))
    return root


def test_ab_command_writes_json_and_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGDISTILL_HOME", str(tmp_path / "home"))  # the teacher cache
    monkeypatch.delenv("RAGDISTILL_TEACHER_CACHE", raising=False)
    tiny = pytest.importorskip("ragdistill.testing.tiny")
    teacher = tiny.tiny_sentence_transformer(tmp_path / "teacher")
    student = tiny.tiny_sentence_transformer(tmp_path / "student", layers=1, hidden=16)
    other = tiny.tiny_sentence_transformer(tmp_path / "off-the-shelf", layers=1, hidden=24)
    data = beir_folder(tmp_path / "beir")
    out = tmp_path / "out"
    args = [
        "ab", "embedder",
        "--teacher", str(teacher), "--student", str(student), "--baseline", str(student),
        "--reference", str(other),
        "--dataset", "beir", "--data-path", str(data), "--data-option", "split=test",
        "--index-dir", str(tmp_path / "chroma"), "--out", str(out), "-k", "5",
        "--max-queries", "5", "--n-bootstrap", "50", "--speed-rounds", "2", "-q",
    ]  # fmt: skip
    result = CliRunner().invoke(build_cli(), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "student - teacher ndcg@5" in result.output
    data_out = json.loads((out / "ab.json").read_text())
    assert len(data_out["query_ids"]) == 5
    student_arm = data_out["arms"]["student"]
    assert student_arm["model_size_bytes"] > 0 and student_arm["parameters"] > 0
    assert (
        data_out["settings"]["throughput_rounds"]
        == len(student_arm["query_throughput_rounds"])
        == 2
    )
    assert data_out["arms"]["teacher"]["parameters"] > student_arm["parameters"]
    assert data_out["agreement"]["baseline"]["overlap@5"]["mean"] < 1.01
    # The reference is an arm of its own, compared with the teacher and the student with it.
    reference = data_out["arms"]["off-the-shelf"]
    assert reference["role"] == "reference" and student_arm["role"] == "student"
    pairs = {(c["arm"], c["reference"]) for c in data_out["comparisons"]}
    assert {("off-the-shelf", "teacher"), ("student", "off-the-shelf")} <= pairs
    assert 0 < student_arm["weights_bytes"] < data_out["arms"]["teacher"]["weights_bytes"]
    # The teacher's index was built through its cache, and says what that cost.
    teacher_arm = data_out["arms"]["teacher"]
    assert teacher_arm["outputs_cached"] is True
    assert teacher_arm["index_stats"]["cache_computed"] == teacher_arm["index_stats"]["passages"]
    # A second A/B (fresh index folder) reads every teacher vector back from the cache.
    again = [a if a != str(tmp_path / "chroma") else str(tmp_path / "chroma2") for a in args]
    assert CliRunner().invoke(build_cli(), again, catch_exceptions=False).exit_code == 0
    stats = json.loads((out / "ab.json").read_text())["arms"]["teacher"]["index_stats"]
    assert stats["cache_computed"] == 0 and stats["cache_reused"] == stats["passages"]
    page = (out / "report.html").read_text()
    assert "Against off-the-shelf (a model you could use instead), the student" in page
    # bars, forest, quality against speed, latency, scatter
    assert page.count("data:image/png;base64,") == 5


def test_unknown_dataset_names_the_choices(tmp_path: Path) -> None:
    args = ["ab", "embedder", "--teacher", "x", "--student", "y", "--dataset", "beri",
            "--out", str(tmp_path)]  # fmt: skip
    result = CliRunner().invoke(build_cli(), args)
    assert result.exit_code != 0
    assert "did you mean 'beir'" in result.output


def test_ab_lists_a_subcommand_per_registered_stage() -> None:
    result = CliRunner().invoke(build_cli(), ["ab", "--help"])
    assert result.exit_code == 0, result.output
    assert "embedder" in result.output and "reranker" in result.output
    result = CliRunner().invoke(build_cli(), ["ab", "retriever"])
    assert result.exit_code != 0 and "No such command 'retriever'" in result.output
