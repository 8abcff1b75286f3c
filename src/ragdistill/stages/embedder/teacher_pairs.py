"""Batches that set each query-shaped text beside a passage its teacher ranks high.

In-batch losses (NT-Xent, similarity-KL) only teach what a batch holds. Random or
length-grouped batches seldom hold a question together with a passage that answers it,
so the student learns where each text lies but rarely how a query ranks the passages
that matter to it. Here every epoch pairs each query-shaped text with one of the
passages its teacher ranks in its top ``k`` (from the cached teacher embeddings: no
human labels), and each pair shares a batch. Every text is still read once an epoch,
so an epoch costs what a mixed one does.

It pays where the query-shaped training texts are real questions of the domain (SciFact's
claims, SQuAD's questions); where they are titles or another domain's text (tau2) the
pairs teach the wrong neighbours. See BENCHMARKS.md, "Embedder distillation".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

from ragdistill.distill.loop import epoch_order

#: How deep in the teacher's ranking a query's partner may be: a passage two queries
#: both rank first goes to one of them, the other takes its next passage.
PARTNER_DEPTH = 3


def teacher_partners(
    queries: np.ndarray, passages: np.ndarray, *, k: int = PARTNER_DEPTH, chunk: int = 1024
) -> np.ndarray:
    """``[Q, k]`` indices into ``passages``: each query's teacher top ``k``, best first.

    ``queries`` ``[Q, D]`` and ``passages`` ``[P, D]`` are teacher embeddings, compared
    by cosine; scored ``chunk`` queries at a time, so memory stays ``chunk x P``.
    """
    if len(passages) == 0:
        return np.empty((len(queries), 0), dtype=np.int64)
    q, p = unit_rows(queries), unit_rows(passages)
    k = min(k, len(p))
    out = np.empty((len(q), k), dtype=np.int64)
    for start in range(0, len(q), chunk):
        scores = q[start : start + chunk] @ p.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best_first = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
        out[start : start + chunk] = np.take_along_axis(top, best_first, 1)
    return out


def pair_up(
    queries: Sequence[int],
    partners: np.ndarray,
    passages: Sequence[int],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's ``(pairs [n, 2], singles)`` of input indices; every input once.

    Queries take turns in a seeded order, each the best of its ``partners`` row (input
    indices) that no earlier query took; a query whose partners are all taken, and a
    passage no query took, stays single.
    """
    taken: set[int] = set()
    pairs, singles = [], []
    for row in rng.permutation(len(queries)):
        free = [int(p) for p in partners[row] if int(p) not in taken]
        if free:
            taken.add(free[0])
            pairs.append((int(queries[row]), free[0]))
        else:
            singles.append(int(queries[row]))
    singles += [int(p) for p in passages if int(p) not in taken]
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2), np.asarray(singles, dtype=np.int64)


def paired_orders(
    n: int,
    queries: Sequence[int],
    partners: np.ndarray,
    passages: Sequence[int],
    *,
    seed: int,
    batch_size: int,
    lengths: Sequence[int] | None = None,
) -> Callable[[int], np.ndarray]:
    """``epoch -> order`` of the ``n`` inputs with each pair inside one batch.

    ``partners`` rows hold input indices (one row per entry of ``queries``). Pairs fill
    batches first, ``batch_size // 2`` a batch, then the single texts; with ``lengths``
    both are grouped by length (a pair counts as its longer text). Full batches are then
    shuffled, and the short remainder stays last, as in :func:`epoch_order`.
    """
    sizes = None if lengths is None else np.asarray(lengths)
    if sizes is not None and len(sizes) != n:
        raise ValueError(f"lengths has {len(sizes)} entries for {n} inputs")

    @lru_cache(maxsize=1)  # the loop asks once per step; an epoch's order is drawn once
    def order_of(epoch: int) -> np.ndarray:
        rng = np.random.default_rng([seed, epoch, 1])
        pairs, singles = pair_up(queries, partners, passages, rng)
        if 2 * len(pairs) + len(singles) != n:
            raise ValueError(
                f"the queries and passages cover {2 * len(pairs) + len(singles)} inputs, "
                f"not {n}: every input must be a query or a passage exactly once"
            )
        pair_sizes = None if sizes is None else sizes[pairs].max(axis=1)
        single_sizes = None if sizes is None else sizes[singles]
        pair_order = epoch_order(
            len(pairs), seed, epoch, batch_size=max(1, batch_size // 2), lengths=pair_sizes
        )
        single_order = epoch_order(
            len(singles), seed, epoch, batch_size=batch_size, lengths=single_sizes
        )
        flat = np.concatenate([pairs[pair_order].ravel(), singles[single_order]])
        full = n // batch_size * batch_size
        batches = flat[:full].reshape(-1, batch_size)[rng.permutation(n // batch_size)]
        return np.concatenate([batches.ravel(), flat[full:]])

    return order_of


def unit_rows(x: np.ndarray) -> np.ndarray:
    """``x`` as float32 with every row scaled to length 1 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    rows: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return rows
