"""A ragdistill reranker as a LlamaIndex node postprocessor."""

from __future__ import annotations

from typing import Any

import numpy as np
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from llama_index_ragdistill._base import ArtifactLoading, SpecPickling
from llama_index_ragdistill._spec import ComponentSlot, ComponentSpec
from ragdistill.contracts import Reranker


class RagdistillRerank(SpecPickling, ArtifactLoading, BaseNodePostprocessor):
    """Reorders retrieved nodes by a ragdistill :class:`~ragdistill.contracts.Reranker`.

    Pass it in ``node_postprocessors=[...]`` of a query engine::

        rerank = RagdistillRerank.from_artifact("runs/ce/student", top_n=3)
        rerank = RagdistillRerank.from_teacher("bi-encoder", model="all-mpnet-base-v2", top_n=3)

    In ``from_teacher`` ``model=`` is the reranker's model (the ``model`` field, a display
    name, follows it); ``top_n`` and the other fields below configure this postprocessor,
    every other keyword the reranker.
    """

    top_n: int | None = Field(default=None, ge=0, description="Nodes kept; None keeps all.")
    model: str = Field(default="ragdistill", description="The reranker's model or artifact.")
    keep_retrieval_score: bool = Field(
        default=False,
        description="Copy each node's retrieval score to metadata['retrieval_score'].",
    )
    metadata_mode: MetadataMode = Field(
        default=MetadataMode.EMBED, description="Which node metadata the reranker reads."
    )
    component_spec: ComponentSpec | None = Field(
        default=None, description="How to rebuild the reranker; None if built in code."
    )
    _stage = "reranker"
    _name_field = "model"
    _slot: ComponentSlot = PrivateAttr()

    def __init__(self, component: Reranker | None = None, **kwargs: Any) -> None:
        slot = self._make_slot(component, kwargs)
        kwargs.setdefault("model", slot.name)
        super().__init__(**kwargs)
        self._slot = slot

    @classmethod
    def class_name(cls) -> str:
        return "RagdistillRerank"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query, texts = self._inputs(nodes, query_bundle)
        if not nodes:
            return []
        with self.callback_manager.event(
            CBEventType.RERANKING, payload=self._payload(nodes, query)
        ) as event:
            ranked = self._apply(nodes, self.component.score(query, texts))
            event.on_end(payload={EventPayload.NODES: ranked})
        return ranked

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query, texts = self._inputs(nodes, query_bundle)
        if not nodes:
            return []
        with self.callback_manager.event(
            CBEventType.RERANKING, payload=self._payload(nodes, query)
        ) as event:
            ranked = self._apply(nodes, await self.component.ascore(query, texts))
            event.on_end(payload={EventPayload.NODES: ranked})
        return ranked

    def _inputs(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None
    ) -> tuple[str, list[str]]:
        if query_bundle is None:
            raise ValueError(
                "RagdistillRerank needs the query: call postprocess_nodes(nodes, query_str=...) "
                "or use it inside a query engine"
            )
        texts = [n.node.get_content(metadata_mode=self.metadata_mode) for n in nodes]
        return query_bundle.query_str, texts

    def _payload(self, nodes: list[NodeWithScore], query: str) -> dict[str, Any]:
        return {
            EventPayload.NODES: nodes,
            EventPayload.MODEL_NAME: self.model,
            EventPayload.QUERY_STR: query,
            EventPayload.TOP_K: self.top_n,
        }

    def _apply(self, nodes: list[NodeWithScore], scores: np.ndarray) -> list[NodeWithScore]:
        # Stable sort on descending score: ties keep the retriever's order.
        order = np.argsort(-scores, kind="stable")[: self.top_n]
        out = []
        for i in order:
            node = nodes[int(i)]
            if self.keep_retrieval_score:
                node.node.metadata["retrieval_score"] = node.score
            out.append(NodeWithScore(node=node.node, score=float(scores[int(i)])))
        return out
