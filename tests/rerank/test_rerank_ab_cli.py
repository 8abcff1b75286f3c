"""`ragdistill ab reranker`: two rerankers A/B'd over fixed first-stage candidates, no recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ragdistill.cli import build_cli

pytest.importorskip("chromadb")


def test_ab_reranker_compares_any_two_rerankers(
    tmp_path: Path, beir_dir: Path, tiny_cross_encoder_path: Path, tiny_st_path: Path
) -> None:
    out = tmp_path / "out"
    args = [
        "ab", "reranker",
        "--teacher", str(tiny_cross_encoder_path),
        "--student", f"bi-encoder:{tiny_st_path}",
        "--first-stage", str(tiny_st_path),
        "--dataset", "beir", "--data-path", str(beir_dir), "--data-option", "split=test",
        "--out", str(out), "-k", "5", "--latency-candidates", "5,10", "--latency-queries", "2",
        "--n-bootstrap", "50", "-q",
    ]  # fmt: skip
    result = CliRunner().invoke(build_cli(), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and (out / "report.html").is_file()
    ab = json.loads((out / "ab.json").read_text())
    assert set(ab["arms"]) == {"teacher", "student", "first_stage"}
    assert ab["settings"]["k"] == 5 and ab["settings"]["latency_candidates"] == [5, 10]
    student = ab["arms"]["student"]
    assert (
        "ndcg@10" in student["metrics"] and -1 <= student["agreement"]["kendall_tau"]["mean"] <= 1
    )
    # The first stage's candidates are kept: a second A/B reuses them.
    assert (out / "candidates.json").is_file()


def test_ab_reranker_says_which_spec_would_load(
    tmp_path: Path, beir_dir: Path, tiny_st_path: Path
) -> None:
    args = ["ab", "reranker", "--teacher", str(tiny_st_path), "--student", str(tiny_st_path),
            "--first-stage", str(tiny_st_path), "--dataset", "beir", "--data-path", str(beir_dir),
            "--data-option", "split=test", "--out", str(tmp_path / "o"), "-q"]  # fmt: skip
    result = CliRunner().invoke(build_cli(), args)
    assert result.exit_code == 1
    # A sentence-transformers folder is an embedder: the error says what would load it.
    assert "holds an embedder, not a reranker" in result.output
    assert f"KIND:{tiny_st_path}" in result.output and "bi-encoder" in result.output
