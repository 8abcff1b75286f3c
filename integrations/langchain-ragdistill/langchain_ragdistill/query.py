"""A ragdistill query transformer as LangChain runnables: a rewriter, an expander and HyDE."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from langchain_core.runnables import RunnableConfig, RunnableSerializable
from pydantic import BaseModel, ConfigDict, Field, model_validator

from langchain_ragdistill._messages import to_ragdistill
from langchain_ragdistill.serialization import SerializableComponent
from ragdistill.contracts import QueryRequest, Stage

QueryInput = str | dict[str, Any]
_QUERY_KEYS = ("question", "query", "input")
_HISTORY_KEYS = ("chat_history", "history", "messages")


class _QueryRunnable(SerializableComponent):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), arbitrary_types_allowed=True)
    stage: ClassVar[Stage] = "query_transformer"

    def _request(self, value: QueryInput, num_queries: int) -> QueryRequest:
        if isinstance(value, str):
            return QueryRequest(value, (), num_queries)
        if isinstance(value, Mapping):
            query = next((value[k] for k in _QUERY_KEYS if k in value), None)
            if not isinstance(query, str):
                raise TypeError(
                    f"{type(self).__name__} input dict needs a str under one of {_QUERY_KEYS}, "
                    f"got keys {sorted(value)}"
                )
            history = next((value[k] for k in _HISTORY_KEYS if k in value), None) or ()
            return QueryRequest(query, to_ragdistill(history), num_queries)
        raise TypeError(
            f"{type(self).__name__} takes a query str or a dict like "
            f"{{'question': ..., 'chat_history': [...]}}, got {type(value).__name__}"
        )

    def _transform(self, inputs: list[QueryInput], num_queries: int) -> list[tuple[str, list[str]]]:
        requests = [self._request(value, num_queries) for value in inputs]
        found = self.component.transform_many(requests)
        return [(req.query, queries) for req, queries in zip(requests, found, strict=True)]

    async def _atransform(self, value: QueryInput, num_queries: int) -> tuple[str, list[str]]:
        req = self._request(value, num_queries)
        found = await self.component.atransform(req.query, req.history, num_queries=num_queries)
        return req.query, found


class RagdistillQueryRewriter(_QueryRunnable, RunnableSerializable[QueryInput, str]):
    """Rewrites a query (and its chat history) into one stand-alone query.

    Input: a query string, or ``{"question": ..., "chat_history": [messages]}``. Fits
    ``RePhraseQueryRetriever(llm_chain=rewriter)`` and ``rewriter | retriever``.
    A distilled query transformer loads with ``from_artifact``; a causal LM (a generator's
    model) is prompted to rewrite with the ``hf-llm`` kind, a seq2seq model with
    ``hf-seq2seq``::

        rewriter = RagdistillQueryRewriter.from_artifact("runs/rewrite/student")
        rewriter = RagdistillQueryRewriter.from_teacher(
            "hf-llm", model="SmolLM2-135M-Instruct", task="rewrite", max_new_tokens=48
        )

    Every ``from_teacher`` keyword but LangChain's runnable fields (``name``) is the query
    transformer's option.
    """

    def invoke(self, input: QueryInput, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        return self._call_with_config(self._rewrite_one, input, config, run_type="chain")

    async def ainvoke(
        self, input: QueryInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> str:
        return await self._acall_with_config(self._arewrite_one, input, config, run_type="chain")

    def batch(
        self,
        inputs: list[QueryInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[str]:
        # One transform_many call, so the model sees the inputs as one batch.
        return self._batch_with_config(
            self._rewrite_batch,
            inputs,
            config,
            return_exceptions=return_exceptions,
            run_type="chain",
        )

    def _rewrite_one(self, value: QueryInput) -> str:
        return self._rewrite_many([value])[0]

    def _rewrite_many(self, inputs: list[QueryInput]) -> list[str]:
        return [queries[0] for _, queries in self._transform(inputs, 1)]

    def _rewrite_batch(self, inputs: list[QueryInput]) -> list[Exception | str]:
        return list(self._rewrite_many(inputs))  # the list type _batch_with_config expects

    async def _arewrite_one(self, value: QueryInput) -> str:
        return (await self._atransform(value, 1))[1][0]


class HyDEInput(BaseModel):
    """The input :class:`RagdistillHyDE` declares (a plain query string works too)."""

    question: str
    chat_history: list[Any] = Field(default_factory=list)


class RagdistillHyDE(RagdistillQueryRewriter):
    """Writes the hypothetical answer passage (HyDE) to embed in place of a query.

    Wraps a query transformer trained for ``task="hyde"``, such as a distilled HyDE
    student (``from_artifact``), or a causal LM prompted for it
    (``from_teacher("hf-llm", model=..., task="hyde")``). Input: a query string or ``{"question": ..., "chat_history": [...]}``;
    output: the passage. It is the ``llm_chain`` of LangChain's
    ``HypotheticalDocumentEmbedder``, which embeds the passage as a document::

        from langchain_classic.chains import HypotheticalDocumentEmbedder

        embeddings = HypotheticalDocumentEmbedder(
            llm_chain=RagdistillHyDE.from_artifact("runs/hyde/student"),
            base_embeddings=RagdistillEmbeddings.from_artifact("runs/minilm/student"),
        )
        docs = InMemoryVectorStore.from_texts(texts, embeddings).similarity_search(query)
    """

    @model_validator(mode="after")
    def _check_task(self) -> RagdistillHyDE:
        task = getattr(self.component, "task", "hyde")  # hand-built components: trusted
        if task != "hyde":
            raise ValueError(
                f"RagdistillHyDE needs a query transformer trained for HyDE (task='hyde'), "
                f"got task={task!r}; load a HyDE student with from_artifact, or prompt a "
                "causal LM with RagdistillHyDE.from_teacher('hf-llm', model=..., task='hyde')"
            )
        return self

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        # HypotheticalDocumentEmbedder invokes its llm_chain with {required_key: query}.
        return HyDEInput


class RagdistillQueryExpander(_QueryRunnable, RunnableSerializable[QueryInput, list[str]]):
    """Expands a query into up to ``num_queries`` alternative queries.

    Input: a query string or ``{"question": ...}``. Fits
    ``MultiQueryRetriever(retriever=..., llm_chain=expander)``, which invokes it with
    ``{"question": query}`` and searches with each returned line. Built as the rewriter
    is (``from_artifact``, or ``from_teacher("hf-llm", model=..., task="expand")``); the
    adapter's own fields (``from_teacher`` keywords that configure it) are
    ``num_queries`` and ``include_original``.
    """

    num_queries: int = Field(default=3, ge=1)
    """Alternative queries returned at most."""
    include_original: bool = False
    """Put the input query first (MultiQueryRetriever has its own flag for this)."""

    def invoke(
        self, input: QueryInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[str]:
        return self._call_with_config(self._expand_one, input, config, run_type="chain")

    async def ainvoke(
        self, input: QueryInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[str]:
        return await self._acall_with_config(self._aexpand_one, input, config, run_type="chain")

    def batch(
        self,
        inputs: list[QueryInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[list[str]]:
        return self._batch_with_config(
            self._expand_batch,
            inputs,
            config,
            return_exceptions=return_exceptions,
            run_type="chain",
        )

    def _expand_one(self, value: QueryInput) -> list[str]:
        return self._expand_many([value])[0]

    def _expand_batch(self, inputs: list[QueryInput]) -> list[Exception | list[str]]:
        return list(self._expand_many(inputs))  # the list type _batch_with_config expects

    def _expand_many(self, inputs: list[QueryInput]) -> list[list[str]]:
        # Ask for one more than needed: expanders often echo the input, which is dropped.
        return [
            self._finish(q, found) for q, found in self._transform(inputs, self.num_queries + 1)
        ]

    async def _aexpand_one(self, value: QueryInput) -> list[str]:
        return self._finish(*(await self._atransform(value, self.num_queries + 1)))

    def _finish(self, query: str, found: Sequence[str]) -> list[str]:
        new = new_queries(query, found, self.num_queries)
        if self.include_original:
            return [query, *new]
        # Never nothing: a retriever given no query would return no documents.
        return new or [query]


def new_queries(query: str, found: Sequence[str], limit: int) -> list[str]:
    """Up to ``limit`` of ``found`` that differ from ``query`` and each other (case, spaces)."""
    seen = {_key(query)}
    out = []
    for candidate in found:
        if _key(candidate) not in seen:
            seen.add(_key(candidate))
            out.append(candidate)
    return out[:limit]


def _key(text: str) -> str:
    return " ".join(text.lower().split())
