"""The embedder's dev split (#21 item 3): query-shaped training text held out, never the
evaluated queries, and a label-free metric that asks the teacher nothing new."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from ragdistill.contracts import Embedder
from ragdistill.datasets import Document, RetrievalDataset
from ragdistill.distill.cached_teacher import CachedEmbedder
from ragdistill.recipes.schema import TrainSpec
from ragdistill.stages.embedder.pipeline import (
    DEV_MAX,
    DEV_MIN,
    dev_set,
    dev_split,
    make_evaluator,
    plan_texts,
)
from tests.index.index_embedders import CountingEmbedder, HashingEmbedder, SeededEmbedder

WORDS = ["bank", "card", "loan", "fee", "rate", "fraud", "refund", "limit", "savings", "wire"]


def dataset(*, titles: bool = True, unjudged: int = 8, judged: int = 8) -> RetrievalDataset:
    corpus = {
        f"d{i}": Document(
            f"d{i}",
            f"{WORDS[i % len(WORDS)]} title {i}" if titles else "",
            " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(i % 5 + 3)) + f" n{i}",
        )
        for i in range(60)
    }
    queries = {
        f"q{i}": f"which {WORDS[i % len(WORDS)]} question {i}" for i in range(judged + unjudged)
    }
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(judged)}
    return RetrievalDataset(name="t", corpus=corpus, queries=queries, qrels=qrels)


class Encoder:
    """A student stand-in: what the evaluator calls, texts in and a tensor of vectors out."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner

    def __call__(self, texts: list[str]) -> torch.Tensor:
        return torch.from_numpy(self.inner.embed_batch(texts))


def test_dev_queries_are_held_out_query_shaped_text_never_evaluated_queries():
    ds = dataset()
    plan = plan_texts(ds, max_texts=None, seed=42, eval_fraction=0.05)
    whole = plan_texts(ds, max_texts=None, seed=42)  # eval_fraction 0: no dev split
    assert whole.dev_texts == [] and len(whole.texts) == len(plan.texts) + len(plan.dev_texts)
    assert len(plan.dev_texts) == DEV_MIN and plan.dev_type == "query"  # 5% of 68 is 3
    assert not set(plan.dev_texts) & set(plan.texts)
    assert set(plan.dev_texts) <= set(whole.of_type("query"))
    evaluated = {ds.queries[q] for q in ds.evaluable_query_ids()}
    assert not evaluated & (set(plan.texts) | set(plan.dev_texts))
    assert plan.to_label("query") == plan.of_type("query") + plan.dev_texts
    assert plan.to_label("document") == plan.of_type("document")


def test_the_split_is_seeded_and_max_texts_counts_training_texts_only():
    ds = dataset()
    plan = plan_texts(ds, max_texts=None, seed=42, eval_fraction=0.05)
    assert plan.dev_texts == plan_texts(ds, max_texts=None, seed=42, eval_fraction=0.05).dev_texts
    assert plan.dev_texts != plan_texts(ds, max_texts=None, seed=7, eval_fraction=0.05).dev_texts
    capped = plan_texts(ds, max_texts=40, seed=42, eval_fraction=0.05)
    assert len(capped.texts) == 40 and capped.dev_texts == plan.dev_texts


def test_the_dev_size_is_capped_both_ways():
    docs = [(f"passage {i}", "document") for i in range(50)]

    def size(queries: int, fraction: float) -> int:
        pairs = docs + [(f"query {i}", "query") for i in range(queries)]
        train, dev = dev_split(pairs, fraction, seed=0)
        assert len(train) + len(dev) == len(pairs) and all(k == "query" for _, k in dev)
        return len(dev)

    assert size(10_000, 0.05) == DEV_MAX  # enough for a stable mean; more only costs time
    assert size(1_000, 0.05) == 50
    assert size(20, 0.05) == DEV_MIN
    assert size(6, 0.05) == 3  # never more than half of what could train
    assert size(100, 0.0) == 0


def test_without_query_shaped_text_passages_are_held_out_and_the_log_says_so(caplog):
    ds = dataset(titles=False, unjudged=0)
    with caplog.at_level(logging.INFO, logger="ragdistill.stages.embedder.pipeline"):
        plan = plan_texts(ds, max_texts=None, seed=42, eval_fraction=0.05)
    assert plan.dev_type == "document" and len(plan.dev_texts) == DEV_MIN
    assert plan.types == ["document"] * (60 - DEV_MIN)
    assert "no query-shaped training text to hold out" in caplog.text


def test_the_pool_holds_each_dev_query_s_teacher_top_and_costs_no_teacher_calls(tmp_path):
    ds = dataset()
    plan = plan_texts(ds, max_texts=None, seed=42, eval_fraction=0.05)
    labelled = CachedEmbedder(HashingEmbedder(), root=tmp_path)
    for kind in ("document", "query"):
        labelled.fill(plan.to_label(kind), kind, show_progress=False)  # type: ignore[arg-type]
    counting = CountingEmbedder(HashingEmbedder())
    dev = dev_set(CachedEmbedder(counting, root=tmp_path), plan, seed=42, pool_size=20)
    assert counting.texts == []  # every vector came from the cache
    assert len(dev.pool) == 20 and len(set(dev.pool)) == 20
    assert set(dev.pool) <= set(plan.of_type("document"))
    teacher = HashingEmbedder()
    passages = plan.of_type("document")
    scores = teacher.embed_batch(plan.dev_texts) @ teacher.embed_batch(passages).T
    for row in scores:  # each dev query's best passage is in the pool
        assert passages[int(np.argmax(row))] in dev.pool
    assert all(len(top) == 10 for top in dev.teacher_top)


def test_the_teacher_itself_scores_1_and_another_model_less(tmp_path):
    # Random vectors per text: no two passages tie, so the teacher's top 10 is one list.
    plan = plan_texts(dataset(), max_texts=None, seed=42, eval_fraction=0.05)
    dev = dev_set(CachedEmbedder(SeededEmbedder(), root=tmp_path), plan, seed=42,
                  show_progress=False)  # fmt: skip
    assert len(dev.pool) == len(plan.of_type("document"))  # 60 passages, under EVAL_POOL
    same = make_evaluator(Encoder(SeededEmbedder()), dev)()
    assert same == {"dev/ndcg@10": pytest.approx(1.0), "dev/overlap@10": pytest.approx(1.0)}
    other = make_evaluator(Encoder(HashingEmbedder()), dev)()
    assert other["dev/ndcg@10"] < 0.9 and other["dev/overlap@10"] < 0.9
    summary = dev.summary(plan, TrainSpec())
    assert summary["dev_queries"] == DEV_MIN and summary["queries"] == plan.dev_texts
