"""A ragdistill query transformer as a LlamaIndex query transform and fusion retriever."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.indices.query.query_transform.base import BaseQueryTransform
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
from llama_index.core.schema import QueryBundle

from llama_index_ragdistill._base import SPEC_FIELD, ArtifactLoading
from llama_index_ragdistill._messages import to_ragdistill
from llama_index_ragdistill._spec import ComponentSpec
from ragdistill.contracts import QueryTransformer


class RagdistillQueryTransform(ArtifactLoading, BaseQueryTransform):
    """Rewrites a query into a stand-alone one with a ragdistill query transformer::

        rewrite = RagdistillQueryTransform.from_artifact("runs/rewrite/student")
        rewrite = RagdistillQueryTransform.from_teacher(
            "hf-llm", model="SmolLM2-135M-Instruct", task="rewrite", replace_query=False
        )

    The conversation so far goes in ``metadata={"chat_history": [ChatMessage, ...]}``.
    With ``replace_query=False`` the rewrite is used only to embed (the original query
    still reaches the reranker and the LLM), as LlamaIndex's HyDE transform does.
    Use it with ``TransformRetriever`` or ``TransformQueryEngine``.

    A component trained for HyDE (``task == "hyde"``) works like LlamaIndex's
    ``HyDEQueryTransform``: the query is kept, and the hypothetical passage (followed by
    the query when ``include_original``, so the two embeddings are averaged) is what gets
    embedded. ``replace_query`` does not apply to it.
    """

    _stage = "query_transformer"

    def __init__(
        self,
        component: QueryTransformer | None = None,
        *,
        replace_query: bool = True,
        include_original: bool = True,
        component_spec: ComponentSpec | Mapping[str, Any] | None = None,
    ) -> None:
        options: dict[str, Any] = {SPEC_FIELD: component_spec}
        self._slot = self._make_slot(component, options)
        self.component_spec: ComponentSpec | None = options[SPEC_FIELD]
        self.replace_query = replace_query
        self.include_original = include_original

    @classmethod
    def _fields(cls) -> set[str]:
        return {"replace_query", "include_original"}

    @property
    def is_hyde(self) -> bool:
        """Whether the component writes a HyDE passage (its ``task`` is ``"hyde"``)."""
        return getattr(self.component, "task", None) == "hyde"

    @classmethod
    def class_name(cls) -> str:
        return "RagdistillQueryTransform"

    def to_dict(self) -> dict[str, Any]:
        """Its options and ``component_spec``, as LlamaIndex components serialise."""
        spec = self.component_spec.model_dump() if self.component_spec else None
        return {
            "replace_query": self.replace_query,
            "include_original": self.include_original,
            SPEC_FIELD: spec,
            "class_name": self.class_name(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **kwargs: Any) -> RagdistillQueryTransform:
        """Rebuild from :meth:`to_dict` (the component loads on first use)."""
        values = {k: v for k, v in {**data, **kwargs}.items() if k != "class_name"}
        return cls(**values)

    def _get_prompts(self) -> PromptDictType:
        return {}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        """The rewrite is learned, not prompted: there is nothing to update."""

    def _run(self, query_bundle: QueryBundle, metadata: dict[str, Any]) -> QueryBundle:
        history = to_ragdistill(metadata.get("chat_history") or ())
        rewritten = self.component.rewrite(query_bundle.query_str, history)
        if self.is_hyde:
            embed = [rewritten, *(query_bundle.embedding_strs if self.include_original else ())]
            return QueryBundle(query_str=query_bundle.query_str, custom_embedding_strs=embed)
        query = rewritten if self.replace_query else query_bundle.query_str
        return QueryBundle(query_str=query, custom_embedding_strs=[rewritten])

    def expand(self, query: str, num_queries: int) -> list[str]:
        """Up to ``num_queries`` alternatives to ``query``, the query itself left out."""
        return _new_queries(query, self.component.expand(query, num_queries + 1), num_queries)

    async def aexpand(self, query: str, num_queries: int) -> list[str]:
        found = await self.component.atransform(query, num_queries=num_queries + 1)
        return _new_queries(query, found, num_queries)


class RagdistillFusionRetriever(QueryFusionRetriever):
    """``QueryFusionRetriever`` whose extra queries come from a ragdistill query transformer.

    It takes every argument of ``QueryFusionRetriever`` (``mode``, ``num_queries``,
    ``similarity_top_k``...) except ``llm`` and ``query_gen_prompt``: the expansion is a
    distilled model, not a prompted LLM. ``num_queries`` counts the original query.
    """

    def __init__(
        self,
        retrievers: list[BaseRetriever],
        query_transformer: QueryTransformer | RagdistillQueryTransform,
        **kwargs: Any,
    ) -> None:
        for key in ("llm", "query_gen_prompt"):
            if key in kwargs:
                raise TypeError(
                    f"RagdistillFusionRetriever takes no {key}=: the query transformer writes "
                    "the extra queries; use QueryFusionRetriever for LLM-generated ones"
                )
        if not isinstance(query_transformer, RagdistillQueryTransform):
            query_transformer = RagdistillQueryTransform(query_transformer)
        self._expander = query_transformer
        from llama_index.core.llms.mock import MockLLM

        # The parent resolves an LLM (Settings.llm, OpenAI by default) that this class
        # never calls; a MockLLM keeps construction offline and side-effect free.
        super().__init__(retrievers, llm=MockLLM(), **kwargs)

    @property
    def query_transform(self) -> RagdistillQueryTransform:
        return self._expander

    def _get_prompts(self) -> PromptDictType:
        return {}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        """No prompt generates the queries."""

    def _get_queries(self, original_query: str) -> list[QueryBundle]:
        return self._bundles(self._expander.expand(original_query, self.num_queries - 1))

    async def _aget_queries(self, original_query: str) -> list[QueryBundle]:
        return self._bundles(await self._expander.aexpand(original_query, self.num_queries - 1))

    def _bundles(self, queries: list[str]) -> list[QueryBundle]:
        if self._verbose:
            print("Generated queries:\n" + "\n".join(queries))
        return [QueryBundle(q) for q in queries]


def _new_queries(query: str, found: Sequence[str], limit: int) -> list[str]:
    # Expanders often echo the input; the fusion retriever already searches with it.
    seen = {_key(query)}
    out = []
    for candidate in found:
        if _key(candidate) not in seen:
            seen.add(_key(candidate))
            out.append(candidate)
    return out[:limit]


def _key(text: str) -> str:
    return " ".join(text.lower().split())
