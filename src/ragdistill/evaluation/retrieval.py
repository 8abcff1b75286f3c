"""Per-query retrieval metrics against graded qrels (``{doc_id: grade}``, grade > 0 relevant).

nDCG uses linear gain and the log2 discount, as trec_eval, pytrec_eval and BEIR do:
``DCG@k = sum(grade_i / log2(i + 1))`` over ranks ``i = 1..k``, divided by the DCG of
the ideal ranking of the query's judged grades. Every function takes a ranking as a
list of document ids (or ``(doc_id, score)`` pairs), best first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

Ranking = Sequence[str] | Sequence[tuple[str, float]]
METRICS = ("ndcg", "recall", "mrr")


def ndcg_at_k(ranking: Ranking, qrels: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain of the top ``k``; 0 when nothing is relevant."""
    _check_k(k)
    gains = [max(g, 0) for g in qrels.values()]
    ideal = _dcg(sorted(gains, reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return _dcg([max(qrels.get(d, 0), 0) for d in _ids(ranking)[:k]]) / ideal


def recall_at_k(ranking: Ranking, qrels: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents found in the top ``k``."""
    _check_k(k)
    relevant = {d for d, g in qrels.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_ids(ranking)[:k])) / len(relevant)


def mrr_at_k(ranking: Ranking, qrels: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document in the top ``k`` (0 if none)."""
    _check_k(k)
    for rank, doc in enumerate(_ids(ranking)[:k], 1):
        if qrels.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def overlap_at_k(a: Ranking, b: Ranking, k: int) -> float:
    """Share of documents two rankings have in common in their top ``k``.

    Divided by the longer of the two top lists (``k`` unless the corpus is smaller);
    two empty rankings agree fully.
    """
    _check_k(k)
    top_a, top_b = set(_ids(a)[:k]), set(_ids(b)[:k])
    size = max(len(top_a), len(top_b))
    return 1.0 if size == 0 else len(top_a & top_b) / size


def evaluate_run(
    run: Mapping[str, Ranking],
    qrels: Mapping[str, Mapping[str, int]],
    cutoffs: Sequence[int] = (10, 100),
    metrics: Sequence[str] = METRICS,
) -> dict[str, dict[str, float]]:
    """``{"ndcg@10": {query_id: value}, ...}`` for every judged query of ``run``.

    Queries without a relevant document are skipped (their metrics are undefined);
    a judged query missing from ``run`` scores 0.
    """
    funcs = {"ndcg": ndcg_at_k, "recall": recall_at_k, "mrr": mrr_at_k}
    unknown = [m for m in metrics if m not in funcs]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {', '.join(funcs)}")
    judged = [q for q, rel in qrels.items() if any(g > 0 for g in rel.values())]
    out: dict[str, dict[str, float]] = {}
    for metric in metrics:
        for k in cutoffs:
            out[f"{metric}@{k}"] = {q: funcs[metric](run.get(q, []), qrels[q], k) for q in judged}
    return out


def _dcg(grades: Sequence[int]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(grades))


def _ids(ranking: Any) -> list[str]:
    return [r if isinstance(r, str) else r[0] for r in ranking]


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
