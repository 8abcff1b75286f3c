"""The reranker contract: (query, document) pairs in, one relevance score per pair out."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from ragdistill.contracts.base import Component, check_count, check_texts, progress
from ragdistill.contracts.embedder import FloatArray
from ragdistill.errors import ContractError

Pair = tuple[str, str]


@dataclass(frozen=True)
class ScoredDocument:
    """A document's place in a reranked list: its index in the input, score and text."""

    index: int
    score: float
    text: str


class Reranker(Component):
    """Implement :meth:`score_pairs`; higher scores mean more relevant.

    Scores are compared only within one query's candidates, so any monotone scale
    (logits, log-probabilities, cosine similarities) is valid.
    """

    stage: ClassVar[Literal["reranker"]] = "reranker"

    @abstractmethod
    def score_pairs(self, pairs: list[Pair]) -> FloatArray:
        """Score one batch of ``(query, document)`` pairs: shape ``(len(pairs),)``."""

    def score_many(
        self, pairs: Sequence[Pair], *, batch_size: int | None = None, show_progress: bool = False
    ) -> FloatArray:
        """Score any number of pairs in batches."""
        items = _check_pairs(pairs)
        parts = [np.zeros(0, dtype=np.float32)]
        with progress(len(items), enabled=show_progress, desc="scoring") as bar:
            for batch in self._batches(items, batch_size):
                parts.append(self._checked(self.score_pairs(list(batch)), len(batch)))
                bar.update(len(batch))
        return np.concatenate(parts)

    def score(self, query: str, documents: Sequence[str], **kwargs: object) -> FloatArray:
        """Scores of ``documents`` for one ``query``, in input order."""
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, got {type(query).__name__}")
        docs = check_texts(documents, name="documents")
        return self.score_many([(query, d) for d in docs], **kwargs)  # type: ignore[arg-type]

    def rerank(
        self, query: str, documents: Sequence[str], *, top_n: int | None = None
    ) -> list[ScoredDocument]:
        """``documents`` sorted by descending score, cut to ``top_n``; ties keep input order."""
        scores = self.score(query, documents)
        return _ranked(documents, scores, top_n)

    async def ascore_pairs(self, pairs: list[Pair]) -> FloatArray:
        """Async :meth:`score_pairs`; runs it in a thread unless a plugin overrides this."""
        result: FloatArray = await self._in_thread(self.score_pairs, pairs)
        return result

    async def ascore(self, query: str, documents: Sequence[str]) -> FloatArray:
        docs = check_texts(documents, name="documents")
        parts = [np.zeros(0, dtype=np.float32)]
        for batch in self._batches([(query, d) for d in docs], None):
            parts.append(self._checked(await self.ascore_pairs(list(batch)), len(batch)))
        return np.concatenate(parts)

    async def arerank(
        self, query: str, documents: Sequence[str], *, top_n: int | None = None
    ) -> list[ScoredDocument]:
        return _ranked(documents, await self.ascore(query, documents), top_n)

    def _checked(self, out: object, expected: int) -> FloatArray:
        array = np.asarray(out, dtype=np.float32).reshape(-1)
        check_count(self, "score_pairs", array.shape[0], expected)
        if not np.isfinite(array).all():
            raise ContractError(f"{type(self).__qualname__}.score_pairs returned NaN or inf")
        return array


def _check_pairs(pairs: Sequence[Pair]) -> list[Pair]:
    items = list(pairs)
    for i, pair in enumerate(items):
        if not (
            isinstance(pair, tuple | list)
            and len(pair) == 2
            and all(isinstance(p, str) for p in pair)
        ):
            raise TypeError(
                f"pairs[{i}] must be a (query, document) pair of strings, got {pair!r:.80}"
            )
    return [(q, d) for q, d in items]


def _ranked(
    documents: Sequence[str], scores: FloatArray, top_n: int | None
) -> list[ScoredDocument]:
    if top_n is not None and top_n < 0:
        raise ValueError(f"top_n must be >= 0, got {top_n}")
    order = np.argsort(-scores, kind="stable")
    if top_n is not None:
        order = order[:top_n]
    return [ScoredDocument(int(i), float(scores[i]), documents[int(i)]) for i in order]
