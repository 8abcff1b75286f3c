"""A weighted ensemble of reranker teachers, each normalised per query before summing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ragdistill.contracts import FloatArray, Pair, Reranker
from ragdistill.contracts.reranker import _check_pairs
from ragdistill.errors import ConfigError

Normalize = Literal["zscore", "minmax", "none"]


class EnsembleReranker(Reranker):
    """``sum_i weight_i * normalize(member_i scores)``, normalised over each query's candidates.

    ``members`` are tables naming a registered reranker and its options, e.g.
    ``[{kind = "cross-encoder", model = "..."}, {kind = "bi-encoder", model = "..."}]``;
    ``weights`` default to equal. Members score on different scales (logits, cosines,
    log-odds), so each member's scores are rescaled per query first: ``zscore`` (mean 0,
    standard deviation 1), ``minmax`` (to [0, 1]) or ``none``. A query's final scores
    therefore depend on which candidates are scored together: :meth:`score` and
    :meth:`rerank` normalise over all the documents given for the query.
    """

    def __init__(
        self,
        members: list[dict[str, Any]],
        weights: list[float] | None = None,
        normalize: Normalize = "zscore",
        batch_size: int = 32,
    ) -> None:
        if not members:
            raise ConfigError("members must list at least one reranker table, e.g. {kind = ...}")
        if weights is not None:
            if len(weights) != len(members):
                raise ConfigError(
                    f"weights has {len(weights)} values for {len(members)} members; give one "
                    "weight per member, or leave weights out for equal weights"
                )
            if any(not math.isfinite(w) or w < 0 for w in weights) or not any(weights):
                raise ConfigError(f"weights must be finite, >= 0 and not all 0, got {weights}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        from ragdistill.registry import build_members

        example = '{kind = "cross-encoder", model = "..."}'
        self.members: list[Reranker] = build_members(
            members, stage="reranker", contract=Reranker, ensemble=EnsembleReranker, example=example
        )
        self.weights = np.asarray(weights or [1.0] * len(members), dtype=np.float64)
        self.normalize = normalize
        self.batch_size = batch_size

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "members": [m.describe() for m in self.members]}

    @property
    def model_name(self) -> str:
        """``ensemble(<member>, <member>...)``, each member by its model: what shims report."""
        return f"ensemble({', '.join(_name_of(m) for m in self.members)})"

    def raw_scores(self, pairs: Sequence[Pair]) -> FloatArray:
        """Each member's own scores, ``(len(pairs), len(members))``."""
        columns = [m.score_many(list(pairs)) for m in self.members]
        if not columns or not len(pairs):
            return np.zeros((len(pairs), len(self.members)), dtype=np.float32)
        return np.stack(columns, axis=1).astype(np.float32)

    def combine(self, pairs: Sequence[Pair], raw: FloatArray) -> FloatArray:
        """Normalise each member's column per query (over ``pairs``), then weight and sum."""
        out = np.zeros(len(pairs), dtype=np.float64)
        groups: dict[str, list[int]] = {}
        for i, (query, _) in enumerate(pairs):
            groups.setdefault(query, []).append(i)
        for rows in groups.values():
            block = np.asarray(raw[rows], dtype=np.float64)
            out[rows] = _normalized(block, self.normalize) @ self.weights
        return out.astype(np.float32)

    def score_pairs(self, pairs: list[Pair]) -> FloatArray:
        return self.combine(pairs, self.raw_scores(pairs))

    def score_many(
        self, pairs: Sequence[Pair], *, batch_size: int | None = None, show_progress: bool = False
    ) -> FloatArray:
        # Members batch on their own; normalising needs every candidate of a query at once.
        items = _check_pairs(pairs)
        if not items:
            return np.zeros(0, dtype=np.float32)
        return self._checked(self.score_pairs(items), len(items))

    async def ascore(self, query: str, documents: Sequence[str]) -> FloatArray:
        result: FloatArray = await self._in_thread(self.score, query, documents)
        return result


def _normalized(block: np.ndarray, how: Normalize) -> np.ndarray:
    """Rescale each column of one query's ``(candidates, members)`` scores."""
    if how == "none":
        return block
    if how == "zscore":
        std = block.std(axis=0)
        # One candidate, or a member scoring all alike: it carries no ranking, so 0.
        return np.where(std > 1e-12, (block - block.mean(axis=0)) / np.maximum(std, 1e-12), 0.0)
    low, high = block.min(axis=0), block.max(axis=0)
    span = high - low
    return np.where(span > 1e-12, (block - low) / np.maximum(span, 1e-12), 0.0)


def _name_of(member: Reranker) -> str:
    for attr in ("model_name", "model"):
        value = getattr(member, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(member).__qualname__
