"""A ragdistill embedder as LangChain ``Embeddings``."""

from __future__ import annotations

from typing import ClassVar

from langchain_core.embeddings import Embeddings
from pydantic import ConfigDict

from langchain_ragdistill._base import ComponentFields
from ragdistill.contracts import FloatArray, Stage


class RagdistillEmbeddings(ComponentFields, Embeddings):
    """Embeds with a ragdistill :class:`~ragdistill.contracts.Embedder` (teacher or student).

    Queries are embedded with ``input_type="query"`` and documents with ``"document"``::

        embeddings = RagdistillEmbeddings.from_artifact("runs/minilm/student")
        embeddings = RagdistillEmbeddings.from_teacher(
            "sentence-transformers", model="all-mpnet-base-v2", batch_size=16
        )
        vectorstore = Chroma(embedding_function=embeddings)

    Every ``from_teacher`` keyword is the embedder's option: the adapter has no fields
    of its own.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    stage: ClassVar[Stage] = "embedder"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return _rows(self.component.embed_many(texts, input_type="document"))

    def embed_query(self, text: str) -> list[float]:
        return _rows(self.component.embed_many([text], input_type="query"))[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return _rows(await self.component.aembed_many(texts, input_type="document"))

    async def aembed_query(self, text: str) -> list[float]:
        return _rows(await self.component.aembed_many([text], input_type="query"))[0]


def _rows(vectors: FloatArray) -> list[list[float]]:
    rows: list[list[float]] = vectors.tolist()  # numpy types tolist() as Any
    return rows
