"""A ragdistill embedder as a LlamaIndex ``BaseEmbedding``."""

from __future__ import annotations

import os
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import PrivateAttr

from ragdistill import adapters
from ragdistill.contracts import Embedder


class RagdistillEmbedding(BaseEmbedding):
    """Embeds with a ragdistill :class:`~ragdistill.contracts.Embedder` (teacher or student).

    Queries are embedded with ``input_type="query"`` and nodes with ``"document"``, so
    asymmetric models get their prefixes. Use it as ``Settings.embed_model`` or pass it as
    ``embed_model=`` to an index::

        embed_model = RagdistillEmbedding.from_artifact("runs/minilm/student")
    """

    _component: Embedder = PrivateAttr()

    def __init__(self, component: Embedder, **kwargs: Any) -> None:
        adapters.check(component, "embedder")
        kwargs.setdefault("model_name", adapters.model_name(component))
        kwargs.setdefault("embed_batch_size", max(1, min(component.batch_size, 2048)))
        super().__init__(**kwargs)
        self._component = component

    @classmethod
    def from_artifact(
        cls,
        source: str | os.PathLike[str],
        *,
        load_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> RagdistillEmbedding:
        """Load an artifact directory, model folder or model name ragdistill resolves."""
        component = adapters.load(source, "embedder", **(load_options or {}))
        kwargs.setdefault("model_name", adapters.model_name(component, source))
        return cls(component, **kwargs)

    from_pretrained = from_artifact

    @classmethod
    def class_name(cls) -> str:
        return "RagdistillEmbedding"

    @property
    def component(self) -> Embedder:
        return self._component

    @property
    def manifest(self) -> dict[str, Any] | None:
        """The artifact's manifest (teacher, student, metrics...), None if built by hand."""
        return adapters.manifest_of(self._component)

    def describe(self) -> dict[str, Any]:
        return adapters.describe(self._component)

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._component.embed_many([query], input_type="query")[0].tolist()

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._component.aembed_many([query], input_type="query"))[0].tolist()

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._component.embed_many([text], input_type="document")[0].tolist()

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._component.aembed_many([text], input_type="document"))[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._component.embed_many(texts, input_type="document").tolist()

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return (await self._component.aembed_many(texts, input_type="document")).tolist()
