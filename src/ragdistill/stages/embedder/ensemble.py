"""A weighted ensemble of embedder teachers: their unit vectors, scaled and concatenated."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ragdistill.contracts import Embedder, FloatArray, InputType
from ragdistill.errors import ConfigError, ContractError


class EnsembleEmbedder(Embedder):
    """Concatenate each member's unit vector, scaled by ``sqrt(weight_i / sum(weights))``.

    The result is a unit vector whose cosine with another is the weighted mean of the
    members' cosines, so retrieval ranks by the members' averaged similarity: two good
    embedders that err differently usually rank better together than either alone (see
    the reranker ensemble in BENCHMARKS.md). ``members`` are tables naming a registered
    embedder teacher and its options, e.g. ``[{kind = "sentence-transformers", model =
    "all-mpnet-base-v2"}, {kind = "sentence-transformers", model = "all-MiniLM-L6-v2"}]``;
    ``weights`` default to equal. Its width is the sum of the members' widths. A member
    that returns a zero vector adds zeros (the row is then shorter than 1: an index
    searching by cosine re-normalises it, shifting the weights of that one text).

    Behind the teacher cache each member is cached on its own (:meth:`combine` joins
    them), so a member's outputs from an earlier single-teacher run are reused.
    """

    def __init__(self, members: list[dict[str, Any]], weights: list[float] | None = None) -> None:
        if not members:
            raise ConfigError(
                'members must list at least one embedder table, e.g. {kind = "sentence-'
                'transformers", model = "all-mpnet-base-v2"}'
            )
        if weights is not None:
            if len(weights) != len(members):
                raise ConfigError(
                    f"weights has {len(weights)} values for {len(members)} members; give one "
                    "weight per member, or leave weights out for equal weights"
                )
            if any(not math.isfinite(w) or w <= 0 for w in weights):
                raise ConfigError(
                    f"weights must be finite and > 0, got {weights}; leave out a member "
                    "you would weigh 0 (it would still label every text)"
                )
        from ragdistill.registry import build_members

        example = '{kind = "sentence-transformers", model = "..."}'
        self.members: list[Embedder] = build_members(
            members, stage="embedder", contract=Embedder, ensemble=EnsembleEmbedder, example=example
        )
        total = sum(weights or [1.0] * len(members))
        self.weights = [w / total for w in (weights or [1.0] * len(members))]
        self.batch_size = min(m.batch_size for m in self.members)

    def describe(self) -> dict[str, Any]:
        # The normalised weights, also for an ensemble built in code (empty options): an
        # index built at 1:1 must not be reused at 2:1.
        return {
            **super().describe(),
            "members": [m.describe() for m in self.members],
            "weights": self.weights,
        }

    @property
    def model_name(self) -> str:
        """``ensemble(<model>, <model>...)``: what reports and shims name it by."""
        names = (getattr(m, "model", None) or type(m).__qualname__ for m in self.members)
        return f"ensemble({', '.join(str(n) for n in names)})"

    def combine(self, parts: list[FloatArray]) -> FloatArray:
        """One row per text from each member's ``(n, width_i)`` rows (in member order)."""
        if len(parts) != len(self.members):
            raise ContractError(
                f"combine needs {len(self.members)} members' vectors, got {len(parts)}"
            )
        scaled = []
        for vectors, weight in zip(parts, self.weights):
            rows = np.asarray(vectors, dtype=np.float32)
            norms = np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
            scaled.append(rows / norms * np.float32(math.sqrt(weight)))
        out = np.concatenate(scaled, axis=1).astype(np.float32)
        self._dimension = out.shape[1]
        return out

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        return self.combine([m.embed_many(texts, input_type=input_type) for m in self.members])
