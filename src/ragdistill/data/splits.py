"""Held-out splits of a dataset's questions: evaluated ones never share a group with
training ones.

A question's *group* is its source documents' title (a SQuAD article, a BEIR paper), so
a student trained on the unjudged questions never saw the articles it is tested on.
"""

from __future__ import annotations

import random

from ragdistill.datasets import RetrievalDataset


def group_of(dataset: RetrievalDataset, doc_id: str) -> str:
    doc = dataset.corpus[doc_id]
    return doc.title or doc.id


def split_questions(
    dataset: RetrievalDataset,
    *,
    max_eval: int | None,
    max_train: int | None,
    seed: int,
) -> tuple[list[str], list[str]]:
    """``(train_ids, eval_ids)``: judged questions evaluated, unjudged ones of other groups
    trained on, each a seeded sample in dataset order."""
    judged = dataset.evaluable_query_ids()
    evals = _sample(judged, max_eval, seed)
    held = {group_of(dataset, d) for q in evals for d in dataset.source_documents(q)}
    chosen = set(evals)
    train = [
        q
        for q in dataset.queries
        if q not in chosen
        and q not in dataset.qrels
        and not any(group_of(dataset, d) in held for d in dataset.source_documents(q))
        and dataset.queries[q].strip()
    ]
    return _sample(train, max_train, seed), evals


def _sample(ids: list[str], limit: int | None, seed: int) -> list[str]:
    if limit is None or limit >= len(ids):
        return ids
    keep = sorted(random.Random(seed).sample(range(len(ids)), limit))
    return [ids[i] for i in keep]
