"""A ragdistill reranker as a LangChain document compressor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field

from langchain_ragdistill._base import ComponentFields
from ragdistill.contracts import Stage


class RagdistillRerank(ComponentFields, BaseDocumentCompressor):
    """Reorders documents by a ragdistill :class:`~ragdistill.contracts.Reranker`.

    Each returned document is a copy with ``metadata["relevance_score"]`` set. Use it
    as the ``base_compressor`` of a ``ContextualCompressionRetriever``::

        reranker = RagdistillRerank.from_artifact("runs/ce/student", top_n=3)
        reranker = RagdistillRerank.from_teacher("bi-encoder", model="all-mpnet-base-v2", top_n=3)
        reranker = RagdistillRerank.from_teacher("cross-encoder", model="path/to/cross-encoder")

    An embedder's model is not a reranker: build one on it with the ``bi-encoder`` kind
    (``llm-judge`` does the same on a causal LM). The adapter's own field (a
    ``from_teacher`` keyword that configures it, not the reranker) is ``top_n``.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    stage: ClassVar[Stage] = "reranker"

    top_n: int | None = Field(default=3, ge=0)
    """Documents kept (the best first); None keeps them all."""

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        if not documents:
            return []
        scores = self.component.score(query, [d.page_content for d in documents])
        return self._ranked(documents, scores)

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        if not documents:
            return []
        scores = await self.component.ascore(query, [d.page_content for d in documents])
        return self._ranked(documents, scores)

    def _ranked(self, documents: Sequence[Document], scores: np.ndarray) -> list[Document]:
        # Stable sort on descending score: ties keep the retriever's order.
        order = np.argsort(-scores, kind="stable")[: self.top_n]
        return [
            Document(
                page_content=documents[int(i)].page_content,
                metadata={**documents[int(i)].metadata, "relevance_score": float(scores[int(i)])},
                id=documents[int(i)].id,
            )
            for i in order
        ]
