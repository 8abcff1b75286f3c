"""A ragdistill embedder as a LlamaIndex ``BaseEmbedding``."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import PrivateAttr

from llama_index_ragdistill._base import ArtifactLoading
from ragdistill import adapters
from ragdistill.contracts import Embedder, FloatArray


class RagdistillEmbedding(ArtifactLoading, BaseEmbedding):
    """Embeds with a ragdistill :class:`~ragdistill.contracts.Embedder` (teacher or student).

    Queries are embedded with ``input_type="query"`` and nodes with ``"document"``, so
    asymmetric models get their prefixes. Use it as ``Settings.embed_model`` or pass it as
    ``embed_model=`` to an index::

        embed_model = RagdistillEmbedding.from_artifact("runs/minilm/student")
    """

    _stage = "embedder"
    _name_field = "model_name"
    _component: Embedder = PrivateAttr()

    def __init__(self, component: Embedder, **kwargs: Any) -> None:
        adapters.check(component, "embedder")
        kwargs.setdefault("model_name", adapters.model_name(component))
        kwargs.setdefault("embed_batch_size", max(1, min(component.batch_size, 2048)))
        super().__init__(**kwargs)
        self._component = component

    @classmethod
    def class_name(cls) -> str:
        return "RagdistillEmbedding"

    def _get_query_embedding(self, query: str) -> Embedding:
        return _rows(self._component.embed_many([query], input_type="query"))[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return _rows(await self._component.aembed_many([query], input_type="query"))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return _rows(self._component.embed_many([text], input_type="document"))[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return _rows(await self._component.aembed_many([text], input_type="document"))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return _rows(self._component.embed_many(texts, input_type="document"))

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return _rows(await self._component.aembed_many(texts, input_type="document"))


def _rows(vectors: FloatArray) -> list[Embedding]:
    rows: list[Embedding] = vectors.tolist()  # numpy types tolist() as Any
    return rows
