"""Small rerankers that really implement the contract, for tests that need known scores."""

from __future__ import annotations

import numpy as np

from ragdistill.contracts import FloatArray, Pair, Reranker
from ragdistill.hookspecs import hookimpl


class WordOverlapReranker(Reranker):
    """Score = number of distinct query words found in the document."""

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size

    def score_pairs(self, pairs: list[Pair]) -> FloatArray:
        return np.array([len(set(q.split()) & set(d.split())) for q, d in pairs], dtype=np.float32)


class WordCountReranker(Reranker):
    """Score = number of words in the document."""

    def score_pairs(self, pairs: list[Pair]) -> FloatArray:
        return np.array([len(d.split()) for _, d in pairs], dtype=np.float32)


class CountingReranker(WordOverlapReranker):
    """Word overlap, counting every pair it scores (class-wide, across instances)."""

    scored: list[Pair] = []  # noqa: RUF012 (a deliberate shared log)

    def score_pairs(self, pairs: list[Pair]) -> FloatArray:
        CountingReranker.scored.extend(pairs)
        return super().score_pairs(pairs)


class FakesPlugin:
    """Registers the fakes as a third-party plugin would."""

    @hookimpl
    def register_teachers(self, register: object) -> None:
        register("word-overlap", WordOverlapReranker)  # type: ignore[operator]
        register("word-count", WordCountReranker)  # type: ignore[operator]
        register("counting", CountingReranker)  # type: ignore[operator]
