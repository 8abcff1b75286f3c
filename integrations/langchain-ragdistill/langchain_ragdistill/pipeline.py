"""A whole ragdistill pipeline (or the online A/B router) as a LangChain runnable and
retriever.

The runnable runs the pipeline a spec arm builds, :class:`~ragdistill.rag.RagPipeline`,
unchanged: the answer a user gets here is the one ``ragdistill ab pipeline`` measured.
Hand it a :class:`~ragdistill.rag.router.PipelineRouter` instead and the same runnable
splits traffic between a control and a treatment pipeline::

    rag = RagdistillPipelineRunnable.router_from_spec("pipeline.toml", documents, "ab.sqlite")
    out = rag.invoke({"question": "What does distillation do?", "key": user_id})
    out["answer"], out["contexts"], out["arm"], out["request_id"]

**The sticky key and the conversation.** The router assigns an arm by a key (a user or
session id). Put it in the input, ``{"question": ..., "history": [...], "key": ...}``, or
in the config, ``config={"configurable": {"key": user_id}}``: set once on an outer chain,
it reaches every runnable inside. The input's key wins. A single pipeline has no arms to
assign, so it ignores the key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForChainRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from pydantic import BaseModel, ConfigDict, Field, field_validator

from langchain_ragdistill._messages import to_ragdistill
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

PipelineInput = str | dict[str, Any]
SpecSource = PipelineSpec | Mapping[str, Any] | str | os.PathLike[str]
CorpusSource = Corpus | Iterable[LCDocument | Passage | Document | str]
_QUESTION_KEYS = ("question", "query", "input")
_HISTORY_KEYS = ("history", "chat_history", "messages")


Pipeline = PipelineLike


class _PipelineFields(BaseModel):
    """Mixin: the ``pipeline`` field, building from a spec, and the router's feedback."""

    pipeline: Any = Field(exclude=True, repr=False)
    """The :class:`~ragdistill.rag.RagPipeline` or router this runs."""

    @field_validator("pipeline")
    @classmethod
    def _check_pipeline(cls, value: Any) -> Any:
        for method in ("answer", "retrieve", "aanswer", "aretrieve"):
            if not callable(getattr(value, method, None)):
                raise TypeError(
                    f"{cls.__name__} needs a ragdistill RagPipeline or PipelineRouter "
                    f"(with answer/retrieve/aanswer/aretrieve), got {type(value).__name__}"
                )
        return value

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
    ) -> Any:
        """Arm ``arm`` of a pipeline spec (a TOML path, a mapping or a
        :class:`~ragdistill.rag.PipelineSpec`) over ``corpus`` (LangChain documents,
        ragdistill passages or documents, or strings), built as the offline A/B builds it;
        ``kwargs`` are the object's other fields."""
        built = build_pipeline(as_spec(spec), arm, as_corpus(corpus), index_dir=index_dir, pool=pool)  # fmt: skip
        return cls(pipeline=built, **kwargs)

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
    ) -> Any:
        """The online A/B of ``spec``'s control and treatment over ``corpus``, routed as
        its ``[router]`` table says, logging to ``log_path`` (read it with ``ragdistill ab
        report``). ``router_options`` are further keywords of
        :class:`~ragdistill.rag.router.PipelineRouter` (``rng_seed``, ``fallback``...);
        ``kwargs`` are the object's other fields. Close it with :meth:`close`."""
        from ragdistill.rag.router import PipelineRouter

        router = PipelineRouter.from_spec(as_spec(spec), as_corpus(corpus), log_path,
                                          index_dir=index_dir, pool=pool, **(router_options or {}))  # fmt: skip
        return cls(pipeline=router, **kwargs)

    def record_feedback(self, request_id: str, score: float) -> None:
        """Log a user's score for the answer ``output["request_id"]`` names."""
        record = getattr(self.pipeline, "record_feedback", None)
        if record is None:
            raise TypeError("record_feedback needs a PipelineRouter; a single pipeline logs nothing")  # fmt: skip
        record(request_id, score)

    def close(self) -> None:
        """Close the router (its log); a single pipeline has nothing to close."""
        close = getattr(self.pipeline, "close", None)
        if close is not None:
            close()

    def _key(self, key: Any) -> dict[str, Any]:
        """``key=`` for the pipeline call: only a router given a key gets one."""
        return {"key": key} if key is not None and takes_key(self.pipeline) else {}


class RagdistillPipelineRunnable(_PipelineFields, RunnableSerializable[PipelineInput, dict[str, Any]]):  # fmt: skip
    """A ragdistill pipeline or router as a LangChain runnable: question in, answer out.

    Input: a question, or ``{"question": ..., "history": [messages], "key": ...}``
    (``"query"``/``"input"`` and ``"chat_history"``/``"messages"`` are read too; messages
    are LangChain messages, ``(role, content)`` tuples or dicts). Output: ``{"answer",
    "contexts", "arm", "request_id", "seconds", "queries", "usage"}``: ``contexts`` are the
    passages the generator read, best first, as Documents (``id`` the passage id,
    ``metadata`` ``id``, ``doc_id``, ``title`` and ``score``), ``arm`` and ``request_id``
    are set by the router, ``seconds`` is the time of each stage. ``answer`` is None for
    an arm with no generator. ``ainvoke``/``abatch`` await the pipeline's async methods.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    def invoke(
        self, input: PipelineInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return self._call_with_config(self._answer, input, config, run_type="chain")

    async def ainvoke(
        self, input: PipelineInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return await self._acall_with_config(self._aanswer, input, config, run_type="chain")

    def _answer(
        self,
        input: PipelineInput,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> dict[str, Any]:
        question, history, key = self._request(input, config)
        return to_output(self.pipeline.answer(question, history, **key))

    async def _aanswer(
        self,
        input: PipelineInput,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> dict[str, Any]:
        question, history, key = self._request(input, config)
        return to_output(await self.pipeline.aanswer(question, history, **key))

    def _request(
        self, value: PipelineInput, config: RunnableConfig
    ) -> tuple[str, tuple[Message, ...], dict[str, Any]]:
        if isinstance(value, str):
            return value, (), self._key(config_key(config))
        if not isinstance(value, Mapping):
            raise TypeError(
                f"{type(self).__name__} takes a question str or a dict like "
                f"{{'question': ..., 'history': [...], 'key': ...}}, got {type(value).__name__}"
            )
        question = next((value[k] for k in _QUESTION_KEYS if k in value), None)
        if not isinstance(question, str):
            raise TypeError(
                f"{type(self).__name__} input dict needs a str under one of {_QUESTION_KEYS}, "
                f"got keys {sorted(value)}"
            )
        history = next((value[k] for k in _HISTORY_KEYS if k in value), None) or ()
        key = value["key"] if value.get("key") is not None else config_key(config)
        return question, to_ragdistill(history), self._key(key)


class RagdistillPipelineRetriever(_PipelineFields, BaseRetriever):
    """A ragdistill pipeline or router, every stage but the generator, as a LangChain
    retriever: the passages the generator would read, as Documents (as the runnable's
    ``contexts``). The key comes from ``configurable={"key": ...}`` or ``invoke(...,
    key=...)``; the conversation from ``invoke(..., history=[messages])``."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    def invoke(
        self, input: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[LCDocument]:
        if kwargs.get("key") is None:
            kwargs["key"] = config_key(config)
        return super().invoke(input, config, **kwargs)

    async def ainvoke(
        self, input: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[LCDocument]:
        if kwargs.get("key") is None:
            kwargs["key"] = config_key(config)
        return await super().ainvoke(input, config, **kwargs)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        history: Sequence[Any] = (),
        key: str | None = None,
    ) -> list[LCDocument]:
        out = self.pipeline.retrieve(query, to_ragdistill(history), **self._key(key))
        return to_documents(out.contexts)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        history: Sequence[Any] = (),
        key: str | None = None,
    ) -> list[LCDocument]:
        out = await self.pipeline.aretrieve(query, to_ragdistill(history), **self._key(key))
        return to_documents(out.contexts)


def config_key(config: RunnableConfig | None) -> Any:
    """The sticky key a config carries: ``configurable["key"]``, or None."""
    return ((config or {}).get("configurable") or {}).get("key")


def to_documents(contexts: Sequence[Context]) -> list[LCDocument]:
    """Pipeline contexts as Documents (id = passage id)."""
    return [
        LCDocument(
            page_content=c.text,
            metadata={"id": c.id, "doc_id": c.doc_id, "title": c.title, "score": c.score},
            id=c.id,
        )
        for c in contexts
    ]


def to_output(out: PipelineAnswer) -> dict[str, Any]:
    return {"answer": out.answer, "contexts": to_documents(out.contexts), "arm": out.arm,
            "request_id": out.request_id, "seconds": dict(out.seconds),
            "queries": list(out.queries), "usage": dict(out.usage)}  # fmt: skip


def as_corpus(items: CorpusSource) -> Corpus:
    """A corpus from LangChain Documents (the id is ``doc.id``, else ``metadata["id"]``,
    else its position; ``metadata`` ``doc_id`` and ``title`` are read) or anything
    :class:`~ragdistill.rag.Corpus` takes."""
    if isinstance(items, Corpus):
        return items
    titles: dict[str, str] = {}
    passages: list[Passage | Document | str] = []
    for i, item in enumerate(items):
        if isinstance(item, LCDocument):
            pid = str(item.id or item.metadata.get("id") or f"p{i}")
            doc_id = str(item.metadata.get("doc_id") or pid)
            if item.metadata.get("title"):
                titles[doc_id] = str(item.metadata["title"])
            item = Passage(pid, doc_id, item.page_content)
        passages.append(item)
    return Corpus(passages, titles)
