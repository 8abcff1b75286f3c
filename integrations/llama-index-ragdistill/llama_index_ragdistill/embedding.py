"""A ragdistill embedder as a LlamaIndex ``BaseEmbedding``."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr

from llama_index_ragdistill._base import ArtifactLoading, SpecPickling
from llama_index_ragdistill._spec import ComponentSlot, ComponentSpec
from ragdistill.contracts import Embedder, FloatArray


class RagdistillEmbedding(SpecPickling, ArtifactLoading, BaseEmbedding):
    """Embeds with a ragdistill :class:`~ragdistill.contracts.Embedder` (teacher or student).

    Queries are embedded with ``input_type="query"`` and nodes with ``"document"``, so
    asymmetric models get their prefixes. Use it as ``Settings.embed_model`` or pass it as
    ``embed_model=`` to an index::

        embed_model = RagdistillEmbedding.from_artifact("runs/minilm/student")
        embed_model = RagdistillEmbedding.from_teacher("sentence-transformers", model="all-MiniLM-L6-v2")

    Built either way it survives ``to_dict``/``from_dict``, ``pickle`` and
    ``IngestionPipeline(num_workers=...)``: the model is rebuilt from ``component_spec``.
    """

    component_spec: ComponentSpec | None = Field(
        default=None, description="How to rebuild the embedder; None if built in code."
    )
    _stage = "embedder"
    _name_field = "model_name"
    _slot: ComponentSlot = PrivateAttr()

    def __init__(self, component: Embedder | None = None, **kwargs: Any) -> None:
        slot = self._make_slot(component, kwargs)
        if component is not None:
            kwargs.setdefault("embed_batch_size", max(1, min(component.batch_size, 2048)))
        kwargs.setdefault("model_name", slot.name)
        super().__init__(**kwargs)
        self._slot = slot

    @classmethod
    def class_name(cls) -> str:
        return "RagdistillEmbedding"

    def _get_query_embedding(self, query: str) -> Embedding:
        return _rows(self.component.embed_many([query], input_type="query"))[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return _rows(await self.component.aembed_many([query], input_type="query"))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return _rows(self.component.embed_many([text], input_type="document"))[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return _rows(await self.component.aembed_many([text], input_type="document"))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return _rows(self.component.embed_many(texts, input_type="document"))

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return _rows(await self.component.aembed_many(texts, input_type="document"))


def _rows(vectors: FloatArray) -> list[Embedding]:
    rows: list[Embedding] = vectors.tolist()  # numpy types tolist() as Any
    return rows
