"""A teacher reranker in front of its disk cache: each (query, document) is scored once.

Scores live in a :class:`~ragdistill.teacher_cache.TeacherCache` keyed by
``content_key(query, document)``. A teacher whose final score depends on the other
candidates of the query (an ensemble normalising per query) caches its members' raw
scores instead (one column each) and combines them per call; see :class:`CombinedScores`.
A bi-encoder teacher (or ensemble member) embeds each text once, through the embedder
teacher cache, so a document shared by many queries costs one embedding, and an
embedder distillation from the same model and options has already paid for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ragdistill.contracts import FloatArray, Pair, Reranker
from ragdistill.contracts.reranker import _check_pairs
from ragdistill.teacher_cache import FillStats, TeacherCache, content_key, fingerprint

# Bi-encoder options that change its embeddings (besides the model), with their defaults.
_EMBEDDING_OPTIONS = {
    "query_prefix": "",
    "document_prefix": "",
    "max_seq_length": None,
    "trust_remote_code": False,
}


@runtime_checkable
class CombinedScores(Protocol):
    """A reranker whose scores combine its members' scores per query (an ensemble)."""

    members: list[Reranker]

    def combine(self, pairs: Sequence[Pair], raw: FloatArray) -> FloatArray:
        """Final ``(len(pairs),)`` scores from the members' ``(len(pairs), members)``."""


def pair_keys(pairs: Sequence[Pair]) -> list[str]:
    return [content_key(q, d) for q, d in pairs]


class CachedReranker(Reranker):
    """Wraps ``inner`` so every ``(query, document)`` is scored once per teacher, ever."""

    def __init__(self, inner: Reranker, *, root: Path | None = None) -> None:
        self.inner = inner
        self.root = root
        self.batch_size = inner.batch_size
        self.options = inner.options
        parts = inner.members if isinstance(inner, CombinedScores) else [inner]
        self.raw_dim = len(parts)
        teacher_id = fingerprint(inner.describe())
        self.cache = TeacherCache.open(
            teacher_id, dim=self.raw_dim, root=root, description=inner.describe()
        )
        self._parts = [(part, _bi_encoder_embedder(part, root)) for part in parts]

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    @property
    def model(self) -> Any:
        return getattr(self.inner, "model", None)

    def fill(self, pairs: Sequence[Pair], *, show_progress: bool = True) -> FillStats:
        """Make sure every pair is scored and cached, computing the missing ones."""
        pairs = list(pairs)
        keys = pair_keys(pairs)
        batch_size = self.inner.batch_size
        embedders = [e for _, e in self._parts if e is not None]
        if embedders:
            missing = set(self.cache.missing(keys))
            todo = [p for p, k in zip(pairs, keys) if k in missing]
            for embedder in embedders:
                for input_type, texts in (
                    ("document", [d for _, d in todo]),
                    ("query", [q for q, _ in todo]),
                ):
                    embedder.fill(
                        list(dict.fromkeys(texts)), input_type, show_progress=show_progress
                    )
            if len(embedders) == len(self._parts):
                batch_size = 4096  # every score is a dot product of cached vectors
        return self.cache.fill(
            keys,
            lambda idx: self._raw([pairs[i] for i in idx]),
            batch_size=batch_size,
            show_progress=show_progress,
            desc="teacher labelling (pairs)",
        )

    def raw(self, pairs: Sequence[Pair]) -> FloatArray:
        """Cached raw scores ``(len(pairs), raw_dim)``, computing any that are missing."""
        self.fill(pairs, show_progress=False)
        return self.cache.get(pair_keys(pairs))

    def score_pairs(self, pairs: list[Pair]) -> FloatArray:
        return self.scores(pairs)

    def score_many(
        self, pairs: Sequence[Pair], *, batch_size: int | None = None, show_progress: bool = False
    ) -> FloatArray:
        # One call over every pair: a per-query combination must see all candidates.
        return self.scores(_check_pairs(pairs))

    def scores(self, pairs: Sequence[Pair]) -> FloatArray:
        """The teacher's final scores for ``pairs`` (combined per query where it must be)."""
        return self.scores_grouped([pairs])[0]

    def scores_grouped(self, groups: Sequence[Sequence[Pair]]) -> list[FloatArray]:
        """Final scores of several candidate lists, each combined on its own, one lookup."""
        flat = [p for group in groups for p in group]
        raw = self.raw(flat) if flat else np.zeros((0, self.raw_dim), dtype=np.float32)
        out, start = [], 0
        for group in groups:
            block = raw[start : start + len(group)]
            start += len(group)
            if isinstance(self.inner, CombinedScores) and len(group):
                out.append(np.asarray(self.inner.combine(group, block), dtype=np.float32))
            else:
                out.append(np.asarray(block[:, 0], dtype=np.float32))
        return out

    def _raw(self, pairs: list[Pair]) -> FloatArray:
        columns = []
        for part, embedder in self._parts:
            if embedder is not None:
                queries = embedder.embed_batch([q for q, _ in pairs], input_type="query")
                docs = embedder.embed_batch([d for _, d in pairs], input_type="document")
                columns.append(np.einsum("ij,ij->i", queries, docs))
            else:
                columns.append(part.score_many(pairs))
        return np.stack(columns, axis=1).astype(np.float32)


def _bi_encoder_embedder(inner: Reranker, root: Path | None) -> Any:
    """For a bi-encoder teacher, its embedder behind the embedder teacher cache, else None.

    The embedder is described by the bi-encoder's options, so a bi-encoder over
    ``all-mpnet-base-v2`` reuses what a ``sentence-transformers`` teacher with the same
    options embedded (the cosine of cached unit vectors is the bi-encoder's score).
    """
    from ragdistill.stages.reranker.components import BiEncoderReranker

    if type(inner) is not BiEncoderReranker:
        return None
    from ragdistill.distill.cached_teacher import CachedEmbedder
    from ragdistill.stages.embedder.components import SentenceTransformerEmbedder

    given = dict(inner.options)
    inner_embedder = inner.embedder
    options: dict[str, Any] = {"model": inner.model}
    current = {
        "query_prefix": inner_embedder.prefixes["query"],
        "document_prefix": inner_embedder.prefixes["document"],
        "max_seq_length": inner_embedder.max_seq_length,
        "trust_remote_code": inner_embedder.trust_remote_code,
    }
    options.update({k: v for k, v in current.items() if k in given or v != _EMBEDDING_OPTIONS[k]})
    options.update({k: given[k] for k in ("device", "batch_size") if k in given})
    embedder = SentenceTransformerEmbedder.from_options(options, where="teacher")
    return CachedEmbedder(embedder, root=root)
