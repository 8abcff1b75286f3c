"""A whole ragdistill pipeline (or the online A/B router) as a LlamaIndex query engine
and retriever.

The engine runs the pipeline a spec arm builds, :class:`~ragdistill.rag.RagPipeline`,
unchanged: the answer a user gets here is the one ``ragdistill ab pipeline`` measured.
Hand it a :class:`~ragdistill.rag.router.PipelineRouter` instead and the same engine
splits traffic between a control and a treatment pipeline::

    engine = RagdistillQueryEngine.router_from_spec("pipeline.toml", documents, "ab.sqlite")
    response = engine.with_key(user_id).query("What does distillation do?")
    response.metadata["arm"], response.metadata["request_id"]

**The sticky key and the conversation.** The router assigns an arm by a key (a user or
session id). Bind it, and the conversation so far, to a copy of the engine per request:
``engine.with_key(user_id)``, ``engine.with_chat_history(messages)`` (both share the
pipeline, so a copy costs nothing), or pass them with the query itself as a
:class:`RagdistillQueryBundle`; what the bundle carries wins over what is bound. A single
pipeline has no arms to assign, so it ignores the key.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.base.response.schema import Response
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
from llama_index.core.prompts.mixin import PromptMixinType
from llama_index.core.schema import (
    BaseNode,
    MetadataMode,
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)
from typing_extensions import Self

from llama_index_ragdistill._messages import to_ragdistill
from ragdistill.contracts import Message
from ragdistill.datasets import Document, Passage
from ragdistill.rag import (
    Context,
    Corpus,
    PipelineAnswer,
    PipelineSpec,
    build_pipeline,
)
from ragdistill.rag.pipeline import PipelineLike, takes_key
from ragdistill.rag.spec import as_spec

if TYPE_CHECKING:
    from ragdistill.rag.components import ComponentPool

History = Sequence[ChatMessage | Mapping[str, Any]]
SpecSource = PipelineSpec | Mapping[str, Any] | str | os.PathLike[str]
CorpusSource = Corpus | Iterable[BaseNode | Passage | Document | str]


Pipeline = PipelineLike


@dataclass
class RagdistillQueryBundle(QueryBundle):
    """A query with the router's sticky ``key`` and the conversation before it."""

    key: str | None = None
    chat_history: list[ChatMessage | dict[str, Any]] = field(default_factory=list)


class _PipelineHolder:
    """What the engine and the retriever share: the pipeline, the bound key and
    conversation, building from a spec, and the router's feedback."""

    _pipeline: Pipeline
    _key: str | None
    _history: tuple[Message, ...]
    _takes_key: bool

    def _hold(self, pipeline: Pipeline, key: str | None, chat_history: History | None) -> None:
        for method in ("answer", "retrieve", "aanswer", "aretrieve"):
            if not callable(getattr(pipeline, method, None)):
                raise TypeError(
                    f"{type(self).__name__} needs a ragdistill RagPipeline or PipelineRouter "
                    f"(with answer/retrieve/aanswer/aretrieve), got {type(pipeline).__name__}"
                )
        self._pipeline = pipeline
        self._key = key
        self._history = to_ragdistill(chat_history or ())
        self._takes_key = takes_key(pipeline)

    @property
    def pipeline(self) -> Pipeline:
        """The :class:`~ragdistill.rag.RagPipeline` or router this runs."""
        return self._pipeline

    @property
    def key(self) -> str | None:
        return self._key

    def with_key(self, key: str | None) -> Self:
        """A copy that sends ``key`` (a user or session id) to the router with every query."""
        bound = copy.copy(self)
        bound._key = key
        return bound

    def with_chat_history(self, chat_history: History) -> Self:
        """A copy that answers each query as the next turn of ``chat_history``."""
        bound = copy.copy(self)
        bound._history = to_ragdistill(chat_history)
        return bound

    @classmethod
    def from_spec(
        cls,
        spec: SpecSource,
        arm: str,
        corpus: CorpusSource,
        *,
        index_dir: Path | str | None = None,
        pool: ComponentPool | None = None,
        **kwargs: Any,
    ) -> Self:
        """Arm ``arm`` of a pipeline spec (a TOML path, a mapping or a
        :class:`~ragdistill.rag.PipelineSpec`) over ``corpus`` (LlamaIndex nodes or
        documents, ragdistill passages or documents, or strings), built as the offline
        A/B builds it; ``kwargs`` go to the constructor."""
        built = build_pipeline(as_spec(spec), arm, as_corpus(corpus), index_dir=index_dir, pool=pool)  # fmt: skip
        return cls(built, **kwargs)  # type: ignore[call-arg]

    @classmethod
    def router_from_spec(
        cls,
        spec: SpecSource,
        corpus: CorpusSource,
        log_path: Path | str,
        *,
        index_dir: Path | str | None = None,
        pool: ComponentPool | None = None,
        router_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Self:
        """The online A/B of ``spec``'s control and treatment over ``corpus``, routed as
        its ``[router]`` table says, logging to ``log_path`` (read it with ``ragdistill ab
        report``). ``router_options`` are further keywords of
        :class:`~ragdistill.rag.router.PipelineRouter` (``rng_seed``, ``fallback``...);
        ``kwargs`` go to the constructor. Close it with :meth:`close`."""
        from ragdistill.rag.router import PipelineRouter

        router = PipelineRouter.from_spec(as_spec(spec), as_corpus(corpus), log_path,
                                          index_dir=index_dir, pool=pool, **(router_options or {}))  # fmt: skip
        return cls(router, **kwargs)  # type: ignore[call-arg]

    def record_feedback(self, request_id: str, score: float) -> None:
        """Log a user's score for the answer ``response.metadata["request_id"]`` names."""
        record = getattr(self._pipeline, "record_feedback", None)
        if record is None:
            raise TypeError("record_feedback needs a PipelineRouter; a single pipeline logs nothing")  # fmt: skip
        record(request_id, score)

    def close(self) -> None:
        """Close the router (its log); a single pipeline has nothing to close."""
        close = getattr(self._pipeline, "close", None)
        if close is not None:
            close()

    def _request(self, query: QueryBundle) -> tuple[str, tuple[Message, ...], dict[str, Any]]:
        """The question, the conversation and ``key=`` (for a router given one)."""
        history, key = self._history, self._key
        if isinstance(query, RagdistillQueryBundle):
            history = to_ragdistill(query.chat_history) if query.chat_history else history
            key = query.key if query.key is not None else key
        return query.query_str, history, ({"key": key} if key is not None and self._takes_key else {})  # fmt: skip


class RagdistillQueryEngine(_PipelineHolder, BaseQueryEngine):
    """A ragdistill pipeline or router as a LlamaIndex query engine.

    ``response.response`` is the answer (None for an arm with no generator),
    ``response.source_nodes`` the passages the generator read, best first (a ``TextNode``
    whose id is the passage id, ``metadata`` ``doc_id`` and ``title``, ``ref_doc_id`` the
    document, and the final stage's score), and ``response.metadata`` holds ``arm`` and
    ``request_id`` (set by the router), ``seconds`` (per stage), ``queries`` and ``usage``.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        key: str | None = None,
        chat_history: History | None = None,
        callback_manager: CallbackManager | None = None,
    ) -> None:
        self._hold(pipeline, key, chat_history)
        super().__init__(callback_manager=callback_manager)

    def _get_prompt_modules(self) -> PromptMixinType:
        return {}

    def as_retriever(self) -> RagdistillRetriever:
        """A retriever on the same pipeline, key and conversation."""
        retriever = RagdistillRetriever(self._pipeline, key=self._key,
                                        callback_manager=self.callback_manager)  # fmt: skip
        retriever._history = self._history
        return retriever

    def retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        """Every stage but the generator: the passages it would read."""
        question, history, key = self._request(query_bundle)
        return to_nodes(self._pipeline.retrieve(question, history, **key).contexts)

    def _query(self, query_bundle: QueryBundle) -> Response:
        question, history, key = self._request(query_bundle)
        with self.callback_manager.event(
            CBEventType.QUERY, payload={EventPayload.QUERY_STR: question}
        ) as event:
            response = to_response(self._pipeline.answer(question, history, **key))
            event.on_end(payload={EventPayload.RESPONSE: response})
        return response

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        question, history, key = self._request(query_bundle)
        with self.callback_manager.event(
            CBEventType.QUERY, payload={EventPayload.QUERY_STR: question}
        ) as event:
            response = to_response(await self._pipeline.aanswer(question, history, **key))
            event.on_end(payload={EventPayload.RESPONSE: response})
        return response


class RagdistillRetriever(_PipelineHolder, BaseRetriever):
    """A ragdistill pipeline or router, every stage but the generator, as a LlamaIndex
    retriever: the passages the generator would read, as :class:`NodeWithScore`."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        key: str | None = None,
        chat_history: History | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        self._hold(pipeline, key, chat_history)
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        question, history, key = self._request(query_bundle)
        return to_nodes(self._pipeline.retrieve(question, history, **key).contexts)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        question, history, key = self._request(query_bundle)
        return to_nodes((await self._pipeline.aretrieve(question, history, **key)).contexts)


def to_nodes(contexts: Sequence[Context]) -> list[NodeWithScore]:
    """Pipeline contexts as scored text nodes (id = passage id, ref_doc_id = document)."""
    return [
        NodeWithScore(
            node=TextNode(
                id_=c.id,
                text=c.text,
                metadata={"doc_id": c.doc_id, "title": c.title},
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=c.doc_id)},
            ),
            score=c.score,
        )
        for c in contexts
    ]


def to_response(out: PipelineAnswer) -> Response:
    metadata = {"arm": out.arm, "request_id": out.request_id, "seconds": dict(out.seconds),
                "queries": list(out.queries), "usage": dict(out.usage)}  # fmt: skip
    return Response(out.answer, source_nodes=to_nodes(out.contexts), metadata=metadata)


def as_corpus(items: CorpusSource) -> Corpus:
    """A corpus from LlamaIndex nodes (a node's ``metadata["title"]`` is its title) or
    anything :class:`~ragdistill.rag.Corpus` takes."""
    if isinstance(items, Corpus):
        return items
    titles: dict[str, str] = {}
    passages: list[Passage | Document | str] = []
    for item in items:
        if isinstance(item, BaseNode):
            doc_id = item.ref_doc_id or item.node_id
            if item.metadata.get("title"):
                titles[doc_id] = str(item.metadata["title"])
            item = Passage(item.node_id, doc_id, item.get_content(metadata_mode=MetadataMode.NONE))  # fmt: skip
        passages.append(item)
    return Corpus(passages, titles)
