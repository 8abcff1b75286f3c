"""``ragdistill ab query-transformer``: the A/B with no recipe, through the CLI, on tiny
models (a rule-following teacher registered in-process, a tiny causal LM student)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.core.tiny_beir import write_tiny_beir
from tests.generator.tiny_squad import write_tiny_squad


@pytest.fixture
def rule_teacher():
    """The rule-following ``rule-llm`` teacher, registered in-process."""
    from tests.query_transformer.rule_teacher import RulePlugin, registered

    with registered(RulePlugin()):
        yield


def _ab(*args: str):
    from click.testing import CliRunner

    from ragdistill.cli import build_cli

    return CliRunner().invoke(build_cli(), ["ab", "query-transformer", *args])


def _common(student: Path, embedder: Path, out: Path) -> list[str]:
    return [
        "--teacher", "rule-llm:rule-teacher", "--student", f"hf-llm:{student}",
        "--embedder", str(embedder), "--latency-queries", "1", "--n-bootstrap", "100",
        "--out", str(out), "-q",
    ]  # fmt: skip


def test_rewrite_on_conversations(tmp_path, rule_teacher, tiny_causal_lm_path, tiny_st_path):
    squad = write_tiny_squad(tmp_path / "squad.json", questions=3, names=True)
    out = tmp_path / "ab"
    args = [
        *_common(tiny_causal_lm_path, tiny_st_path, out), "--task", "rewrite",
        "--dataset", "squad", "--data-path", str(squad), "--data-option", "eval_articles=2",
        "--max-queries", "5",
    ]  # fmt: skip
    result = _ab(*args)
    assert result.exit_code == 0, result.output
    ab = json.loads((out / "ab.json").read_text())
    assert set(ab["arms"]) == {"raw", "history", "teacher", "student", "gold"}
    assert ab["task"] == "rewrite" and ab["n"] == 5 and ab["num_queries"] == 1
    # The rule teacher restores the stand-alone question: it scores as the gold arm does.
    assert ab["arms"]["teacher"]["metrics"] == ab["arms"]["gold"]["metrics"]
    assert ab["arms"]["teacher"]["malformed"] == 0
    for s in ab["sample"]:
        # the teacher wrote each follow-up ("what it ...") and rewrote it back
        assert s["query"].startswith("what it ") and s["outputs"]["teacher"] == [s["gold"]]
        assert s["outputs"]["raw"] == [s["query"]] and s["history"][0][0] == "user"
    assert ab["arms"]["student"]["speed"]["p50_ms"] > 0
    assert ab["describe"]["retrieval"]["rrf_k"] == 60
    # the summary is printed, then where the report is
    assert "query-transformer A/B (rewrite, 5 queries)" in result.output
    for arm in ("raw", "history", "teacher", "student", "gold"):
        assert f"\n{arm} " in result.output
    assert f"report: {out / 'report.html'}" in result.output
    assert (out / "report.html").is_file()

    # A second run reuses every model arm's stored outputs.
    again = _ab(*args)
    assert again.exit_code == 0, again.output
    rerun = json.loads((out / "ab.json").read_text())
    assert rerun["arms"]["teacher"]["outputs_cached"] and rerun["arms"]["student"]["outputs_cached"]
    assert {a: v["metrics"] for a, v in rerun["arms"].items()} == {
        a: v["metrics"] for a, v in ab["arms"].items()
    }


def test_expand_on_beir(tmp_path, rule_teacher, tiny_causal_lm_path, tiny_st_path):
    beir = write_tiny_beir(tmp_path / "beir")  # 8 judged queries
    out = tmp_path / "ab"
    result = _ab(
        *_common(tiny_causal_lm_path, tiny_st_path, out), "--task", "expand",
        "--num-queries", "3", "--dataset", "beir", "--data-path", str(beir),
        "--max-queries", "6", "--rrf-k", "10",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ab = json.loads((out / "ab.json").read_text())
    # plain queries: no conversation, no gold stand-alone question
    assert set(ab["arms"]) == {"raw", "teacher", "student"}
    assert ab["task"] == "expand" and ab["n"] == 6 and ab["num_queries"] == 3
    assert ab["describe"]["retrieval"] == {**ab["describe"]["retrieval"], "rrf_k": 10,
                                           "fuse_original": True, "depth": 100}  # fmt: skip
    # the rule teacher's three queries: the query itself, it less its first word, reversed
    for s in ab["sample"]:
        words = s["query"].split()
        assert s["outputs"]["teacher"] == [
            s["query"], " ".join(words[1:]), " ".join(reversed(words))][: len(
                s["outputs"]["teacher"])]  # fmt: skip
        assert 2 <= len(s["outputs"]["teacher"]) <= 3
    assert ab["arms"]["teacher"]["malformed"] == 0
    assert "shares" in ab and set(ab["shares"]) == {"student"}
    assert "query-transformer A/B (expand, 6 queries)" in result.output
    assert (out / "report.html").is_file()


def test_an_unknown_task_is_refused(tmp_path, tiny_st_path):
    result = _ab("--teacher", "rule-llm:rule-teacher", "--embedder", str(tiny_st_path),
                 "--task", "summarise", "--out", str(tmp_path / "ab"), "-q")  # fmt: skip
    assert result.exit_code == 2
    assert "Invalid value for '--task'" in result.output
    assert "'summarise' is not one of 'rewrite', 'expand', 'hyde'" in result.output
    assert not (tmp_path / "ab").exists()


def test_rewrite_needs_a_dataset_with_sources(tmp_path, rule_teacher, tiny_st_path):
    beir = write_tiny_beir(tmp_path / "beir")
    result = _ab("--teacher", "rule-llm:rule-teacher", "--embedder", str(tiny_st_path),
                 "--task", "rewrite", "--dataset", "beir", "--data-path", str(beir),
                 "--out", str(tmp_path / "ab"), "-q")  # fmt: skip
    assert result.exit_code == 1
    assert "Error:" in result.output and "which passage" in result.output
    assert 'task = "expand" or "hyde"' in result.output


def test_rewrite_needs_a_prompted_teacher(tmp_path, tiny_seq2seq_path, tiny_st_path):
    squad = write_tiny_squad(tmp_path / "squad.json", questions=3, names=True)
    result = _ab("--teacher", f"hf-seq2seq:{tiny_seq2seq_path}", "--embedder", str(tiny_st_path),
                 "--task", "rewrite", "--dataset", "squad", "--data-path", str(squad),
                 "--data-option", "eval_articles=2", "--out", str(tmp_path / "ab"), "-q")  # fmt: skip
    assert result.exit_code == 1
    assert "Error:" in result.output and "--teacher must prompt a generator" in result.output
