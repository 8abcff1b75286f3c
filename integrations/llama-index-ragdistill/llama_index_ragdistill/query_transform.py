"""A ragdistill query transformer as a LlamaIndex query transform and fusion retriever."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, cast

from llama_index.core.indices.query.query_transform.base import BaseQueryTransform
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
from llama_index.core.schema import QueryBundle

from llama_index_ragdistill._messages import to_ragdistill
from ragdistill import adapters
from ragdistill.contracts import QueryTransformer


class RagdistillQueryTransform(BaseQueryTransform):
    """Rewrites a query into a stand-alone one with a ragdistill query transformer.

    The conversation so far goes in ``metadata={"chat_history": [ChatMessage, ...]}``.
    With ``replace_query=False`` the rewrite is used only to embed (the original query
    still reaches the reranker and the LLM), as LlamaIndex's HyDE transform does.
    Use it with ``TransformRetriever`` or ``TransformQueryEngine``.

    A component trained for HyDE (``task == "hyde"``) works like LlamaIndex's
    ``HyDEQueryTransform``: the query is kept, and the hypothetical passage (followed by
    the query when ``include_original``, so the two embeddings are averaged) is what gets
    embedded. ``replace_query`` does not apply to it.
    """

    def __init__(
        self,
        component: QueryTransformer,
        *,
        replace_query: bool = True,
        include_original: bool = True,
    ) -> None:
        self._component: QueryTransformer = adapters.check(component, "query_transformer")
        self.replace_query = replace_query
        self.include_original = include_original

    @property
    def is_hyde(self) -> bool:
        """Whether the component writes a HyDE passage (its ``task`` is ``"hyde"``)."""
        return getattr(self._component, "task", None) == "hyde"

    @classmethod
    def from_artifact(
        cls,
        source: str | os.PathLike[str],
        *,
        load_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> RagdistillQueryTransform:
        """Load an artifact directory, model folder or model name ragdistill resolves."""
        component = adapters.load(source, "query_transformer", **(load_options or {}))
        # load() checked the query_transformer contract; its annotation is the base class.
        return cls(cast(QueryTransformer, component), **kwargs)

    from_pretrained = from_artifact

    @property
    def component(self) -> QueryTransformer:
        return self._component

    @property
    def manifest(self) -> dict[str, Any] | None:
        """The artifact's manifest (teacher, student, metrics...), None if built by hand."""
        return adapters.manifest_of(self._component)

    def describe(self) -> dict[str, Any]:
        return adapters.describe(self._component)

    def _get_prompts(self) -> PromptDictType:
        return {}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        """The rewrite is learned, not prompted: there is nothing to update."""

    def _run(self, query_bundle: QueryBundle, metadata: dict[str, Any]) -> QueryBundle:
        history = to_ragdistill(metadata.get("chat_history") or ())
        rewritten = self._component.rewrite(query_bundle.query_str, history)
        if self.is_hyde:
            embed = [rewritten, *(query_bundle.embedding_strs if self.include_original else ())]
            return QueryBundle(query_str=query_bundle.query_str, custom_embedding_strs=embed)
        query = rewritten if self.replace_query else query_bundle.query_str
        return QueryBundle(query_str=query, custom_embedding_strs=[rewritten])

    def expand(self, query: str, num_queries: int) -> list[str]:
        """Up to ``num_queries`` alternatives to ``query``, the query itself left out."""
        return _new_queries(query, self._component.expand(query, num_queries + 1), num_queries)

    async def aexpand(self, query: str, num_queries: int) -> list[str]:
        found = await self._component.atransform(query, num_queries=num_queries + 1)
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
