"""Retrieval with a fixed embedder, the yardstick of every query-transformer arm.

Each arm hands over, per example, the texts to search: one rewrite, a HyDE passage, or
several expansions (the user's query first when ``fuse_original``). Every text is
searched over the whole corpus; several rankings are fused by reciprocal-rank fusion
(Cormack et al. 2009), as LlamaIndex's ``QueryFusionRetriever`` and LangChain's
``MultiQueryRetriever`` combine generated queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ragdistill.datasets import RetrievalDataset


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = 60) -> list[str]:
    """Documents of ``rankings`` ordered by ``sum 1 / (k + rank)`` (ranks from 1).

    Ties keep the order in which documents were first seen (earlier rankings first),
    so fusing one ranking returns it unchanged.
    """
    if k < 0:
        raise ValueError(f"the RRF constant k must be >= 0, got {k}")
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    order = {doc: i for i, doc in enumerate(scores)}
    return sorted(scores, key=lambda d: (-scores[d], order[d]))


class CorpusSearch:
    """The dataset's corpus in a Chroma index (persisted in ``index_dir``, so a rerun
    embeds nothing twice); :meth:`rank` searches texts, each distinct text once."""

    def __init__(
        self,
        dataset: RetrievalDataset,
        embedder: Any,
        index_dir: Path,
        *,
        depth: int,
        rrf_k: int,
        show_progress: bool = True,
    ) -> None:
        from ragdistill.index import ChromaIndex, embedder_fingerprint

        name = f"qt-{dataset.fingerprint()[:8]}-{embedder_fingerprint(embedder)[:16]}"
        self.index = ChromaIndex(embedder, collection=name, path=index_dir,
                                 show_progress=show_progress)  # fmt: skip
        self.index.add(dataset.passages(), sync=True)
        self.depth = depth
        self.rrf_k = rrf_k
        self._seen: dict[str, list[str]] = {}

    def search(self, texts: Sequence[str]) -> list[list[str]]:
        """The ``depth`` best documents of each text."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._seen))
        # Chroma answers a query batch with one SQL statement (a few candidates per
        # document wanted, per text): keep it under SQLite's 32,766 variables.
        step = max(1, 8000 // (3 * self.depth))
        for start in range(0, len(todo), step):
            chunk = todo[start : start + step]
            hits = self.index.search(chunk, self.depth)
            self._seen.update((t, [doc for doc, _ in row]) for t, row in zip(chunk, hits))
        return [self._seen[t] for t in texts]

    def rank(self, queries: Sequence[Sequence[str]]) -> list[list[str]]:
        """One fused ranking per example from its list of texts."""
        flat = [t for texts in queries for t in texts]
        found = dict(zip(flat, self.search(flat)))
        return [
            reciprocal_rank_fusion([found[t] for t in texts], self.rrf_k)[: self.depth]
            if len(texts) > 1
            else list(found[texts[0]])
            for texts in queries
        ]
