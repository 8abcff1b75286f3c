"""Retrieval metrics against values computed by hand."""

from __future__ import annotations

import math

import pytest

from ragdistill.evaluation import (
    evaluate_run,
    mrr_at_k,
    ndcg_at_k,
    overlap_at_k,
    recall_at_k,
)

QRELS = {"a": 3, "b": 2, "c": 1, "z": 0}


def test_ndcg_graded_with_log2_discount() -> None:
    ranking = ["x", "b", "a", "c"]
    # DCG = 0/log2(2) + 2/log2(3) + 3/log2(4) + 1/log2(5); ideal = 3 + 2/log2(3) + 1/log2(4)
    dcg = 2 / math.log2(3) + 3 / 2 + 1 / math.log2(5)
    ideal = 3 + 2 / math.log2(3) + 1 / 2
    assert ndcg_at_k(ranking, QRELS, 10) == pytest.approx(dcg / ideal)
    # At k=2 the ideal is [3, 2] and the run earns only "b".
    assert ndcg_at_k(ranking, QRELS, 2) == pytest.approx(
        (2 / math.log2(3)) / (3 + 2 / math.log2(3))
    )
    assert ndcg_at_k(["a", "b", "c"], QRELS, 3) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], QRELS, 10) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0  # nothing relevant: defined as 0


def test_recall_counts_only_positive_grades() -> None:
    assert recall_at_k(["a", "z", "x"], QRELS, 3) == pytest.approx(1 / 3)
    assert recall_at_k(["x", "a", "b", "c"], QRELS, 2) == pytest.approx(1 / 3)
    assert recall_at_k(["x", "a", "b", "c"], QRELS, 4) == 1.0


def test_mrr_is_reciprocal_rank_of_first_relevant() -> None:
    assert mrr_at_k(["z", "x", "c", "a"], QRELS, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["z", "x", "c"], QRELS, 2) == 0.0
    assert mrr_at_k([("a", 0.9), ("b", 0.5)], QRELS, 10) == 1.0  # (doc, score) pairs work


def test_overlap_between_rankings() -> None:
    assert overlap_at_k(["a", "b", "c"], ["c", "b", "x"], 3) == pytest.approx(2 / 3)
    assert overlap_at_k(["a", "b", "c"], ["c", "b", "x"], 1) == 0.0
    assert overlap_at_k(["a"], ["a"], 10) == 1.0  # a corpus smaller than k
    assert overlap_at_k([], [], 5) == 1.0


def test_evaluate_run_per_query() -> None:
    run = {"q1": ["a", "x"], "q2": ["y"]}
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}, "q4": {"d": 1}}
    out = evaluate_run(run, qrels, cutoffs=(1, 10))
    assert set(out) == {"ndcg@1", "ndcg@10", "recall@1", "recall@10", "mrr@1", "mrr@10"}
    assert out["ndcg@10"] == {"q1": 1.0, "q2": 0.0, "q4": 0.0}  # q3 unjudged, q4 missing -> 0
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluate_run(run, qrels, metrics=("map",))
    with pytest.raises(ValueError, match="k must be >= 1"):
        ndcg_at_k(["a"], QRELS, 0)
