"""Reranker training data: first-stage candidates, teacher positives, hard negatives.

No human judgement is used. Training queries are the dataset's unjudged queries and
its document titles, less a dev split (``train.eval_fraction``) held out to evaluate
on during training; the judged queries are held out for the A/B. A first-stage
embedder retrieves each query's top ``k`` passages from the corpus (Chroma); the
teacher scores them; the teacher's best candidate is the positive and hard negatives
are drawn from a window of first-stage ranks, skipping near-duplicates of the positive.
The candidate lists are saved (``candidates.json``) so a resumed run and the A/B
evaluation use exactly the same ones.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragdistill.datasets import Passage, RetrievalDataset
from ragdistill.distill.dev_split import dev_indices
from ragdistill.errors import ConfigError

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class MinedExample:
    """One training query: ``docs[0]`` is the positive, then negatives.

    Short lists are padded by repeating negatives up to the common width; ``real``
    counts the distinct candidates, which a mask marks (the repeats are consistent
    between teacher and student, so losses without a mask may read them too).
    """

    query: str
    docs: tuple[str, ...]
    real: int


@dataclass
class Candidates:
    """First-stage passage ids, best first: per training, dev and evaluated query."""

    fingerprint: str
    train_queries: list[str] = field(default_factory=list)
    train: list[list[str]] = field(default_factory=list)
    eval: dict[str, list[str]] = field(default_factory=dict)
    #: The dev split (``train.eval_fraction``): held out of training, evaluated on.
    dev_queries: list[str] = field(default_factory=list)
    dev: list[list[str]] = field(default_factory=list)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Candidates | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def training_queries(dataset: RetrievalDataset, *, max_queries: int | None, seed: int) -> list[str]:
    """Unjudged query texts and document titles (deduplicated), never a judged query."""
    return split_queries(dataset, max_queries=max_queries, seed=seed)[0]


def split_queries(
    dataset: RetrievalDataset, *, max_queries: int | None, seed: int, eval_fraction: float = 0.0
) -> tuple[list[str], list[str]]:
    """``(training, dev)`` query texts: the unjudged queries and titles, split in two.

    A seeded ``eval_fraction`` of them is the dev split (see
    :mod:`ragdistill.distill.dev_split`), held out of training to evaluate on. It is
    drawn before the ``max_queries`` sample, so ``max_queries`` stays the number of
    training queries. The judged queries are in neither: they stay unseen until the A/B.
    """
    judged = set(dataset.evaluable_query_ids())
    judged_texts = {dataset.queries[q] for q in judged}
    texts = [t for q, t in dataset.queries.items() if q not in judged]
    texts += [doc.title for doc in dataset.corpus.values()]
    unique = [t for t in dict.fromkeys(t.strip() for t in texts) if t and t not in judged_texts]
    held = set(dev_indices(len(unique), eval_fraction, seed))
    dev = [t for i, t in enumerate(unique) if i in held]
    unique = [t for i, t in enumerate(unique) if i not in held]
    if max_queries is not None and len(unique) > max_queries:
        keep = sorted(random.Random(seed).sample(range(len(unique)), max_queries))
        unique = [unique[i] for i in keep]
    return unique, dev


def eval_query_ids(dataset: RetrievalDataset, max_queries: int | None) -> list[str]:
    ids = dataset.evaluable_query_ids()
    return ids[:max_queries] if max_queries is not None else ids


def collect_candidates(
    dataset: RetrievalDataset,
    first_stage: Any,
    *,
    train_queries: list[str],
    eval_ids: list[str],
    k: int,
    eval_depth: int,
    index_dir: Path,
    saved: Path,
    dev_queries: Sequence[str] = (),
    show_progress: bool = True,
) -> Candidates:
    """Retrieve (or reload from ``saved``) the candidate lists of every query.

    Training and dev queries get the top ``k``, evaluated queries the top ``eval_depth``.
    """
    from ragdistill.index import embedder_fingerprint

    parts: list[Any] = [dataset.fingerprint(), first_stage.describe(), train_queries, eval_ids]
    parts += [k, eval_depth]
    if dev_queries:  # without a dev split, the candidates saved before one existed still do
        parts.append(list(dev_queries))
    blob = json.dumps(parts, sort_keys=True, default=str)
    fp = hashlib.sha256(blob.encode()).hexdigest()[:16]
    found = Candidates.load(saved) if saved.is_file() else None
    if found is not None and found.fingerprint == fp:
        return found
    from ragdistill.index import ChromaIndex

    collection = f"first-stage-{dataset.fingerprint()[:8]}-{embedder_fingerprint(first_stage)[:16]}"
    index = ChromaIndex(
        first_stage, collection=collection, path=index_dir, show_progress=show_progress
    )
    index.add(dataset.passages(), sync=True)
    asked = [*train_queries, *dev_queries]
    found_k = _ids(index.search_passages(asked, k)) if asked else []
    train, dev = found_k[: len(train_queries)], found_k[len(train_queries) :]
    texts = [dataset.queries[q] for q in eval_ids]
    evals = _ids(index.search_passages(texts, eval_depth)) if texts else []
    out = Candidates(fp, train_queries, train, dict(zip(eval_ids, evals)), list(dev_queries), dev)
    out.save(saved)
    return out


def _ids(results: list[list[tuple[str, float]]]) -> list[list[str]]:
    return [[pid for pid, _ in row] for row in results]


def words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def near_duplicate(a: Passage, b: Passage, threshold: float) -> bool:
    """Same document, same text, or word-set Jaccard similarity >= ``threshold``."""
    if a.doc_id == b.doc_id or a.text.strip() == b.text.strip():
        return True
    wa, wb = words(a.text), words(b.text)
    union = len(wa | wb)
    return union > 0 and len(wa & wb) / union >= threshold


def mine_example(
    query: str,
    ranked: Sequence[Passage],
    teacher_scores: np.ndarray,
    *,
    window: tuple[int, int],
    negatives: int,
    dedup_threshold: float,
    rng: random.Random,
) -> MinedExample | None:
    """The teacher's best candidate plus up to ``negatives`` hard negatives from ``window``.

    ``ranked`` is the first stage's order and ``teacher_scores`` the teacher's score of
    each; None when no negative survives the filters.
    """
    if len(ranked) != len(teacher_scores):
        raise ConfigError(f"{len(ranked)} candidates but {len(teacher_scores)} teacher scores")
    if len(ranked) < 2:
        return None
    best = int(np.argmax(teacher_scores))
    positive = ranked[best]
    low, high = window
    pool = [
        p
        for rank, p in enumerate(ranked, 1)
        if low <= rank <= high and rank - 1 != best
        and not near_duplicate(p, positive, dedup_threshold)
    ]  # fmt: skip
    if not pool:
        return None
    chosen = rng.sample(pool, min(negatives, len(pool)))
    docs = [positive.text] + [p.text for p in chosen]
    real = len(docs)
    while len(docs) < negatives + 1:  # pad by repeating negatives: a consistent target
        docs.append(docs[1 + (len(docs) - 1) % (real - 1)])
    return MinedExample(query, tuple(docs), real)


def with_in_batch(batch: list[Any], n: int) -> list[tuple[str, list[str]]]:
    """Each ``(query, docs)`` of a batch plus the positives (``docs[0]``) of the next ``n``."""
    size = len(batch)
    return [
        (batch[i][0], [*batch[i][1], *(batch[(i + j) % size][1][0] for j in range(1, n + 1))])
        for i in range(size)
    ]


def plan_batches(inputs: Sequence[Any], spec: Any) -> list[list[int]]:
    """The example indices of every training step, exactly as the training loop draws them."""
    from ragdistill.distill.loop import batch_orders, steps_per_epoch

    order_of = batch_orders(inputs, spec)
    per_epoch = steps_per_epoch(len(inputs), spec.batch_size)
    total = per_epoch * spec.epochs
    if spec.max_steps is not None:
        total = min(total, spec.max_steps)
    out = []
    for step in range(total):
        epoch, offset = divmod(step, per_epoch)
        order = order_of(epoch)
        start = offset * spec.batch_size
        out.append([int(i) for i in order[start : start + spec.batch_size]])
    return out
