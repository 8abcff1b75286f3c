"""A RAG pipeline of ragdistill components: transform -> retrieve -> rerank -> generate.

:class:`RagPipeline` is what the offline A/B measures and what the router and the
LlamaIndex / LangChain wrappers serve, so the measured pipeline is the deployed one.
Each answer carries the time of every stage it ran (:attr:`PipelineAnswer.seconds`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from ragdistill.contracts import (
    Embedder,
    Generator,
    QueryRequest,
    QueryTransformer,
    Reranker,
    request,
    to_messages,
)
from ragdistill.contracts.messages import MessageLike
from ragdistill.datasets import Document, Passage
from ragdistill.rag.components import Built, ComponentPool
from ragdistill.rag.spec import STAGE_ORDER, PipelineSpec

if TYPE_CHECKING:
    from ragdistill.index import ChromaIndex
    from ragdistill.stages.generator.options import PromptSpec

#: Stage names in :attr:`PipelineAnswer.seconds`: the embedder's query encoding and the
#: vector search are timed apart (the search does not shrink with a smaller embedder).
SEARCH = "search"


@dataclass(frozen=True)
class Context:
    """A passage the pipeline put before the generator (or, with no generator, returned)."""

    id: str
    doc_id: str
    title: str
    text: str
    score: float


@dataclass
class PipelineAnswer:
    """One request's result. ``ranked`` is every candidate document id in final order
    (what retrieval metrics score); ``contexts`` the passages the generator read."""

    question: str
    queries: list[str]
    ranked: list[str]
    contexts: list[Context]
    answer: str | None
    seconds: dict[str, float] = field(default_factory=dict)
    #: Tokens per stage that reported them: ``{"generator": {"prompt_tokens": ...}}``.
    usage: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Set by the online router: the arm that answered and the id its log row has.
    arm: str | None = None
    request_id: str | None = None

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineAnswer:
        contexts = [Context(**c) for c in data.get("contexts", [])]
        return cls(**{**data, "contexts": contexts})


class Corpus:
    """Passages by id, with their document's title (``titles`` by document id), as the
    pipeline shows them."""

    def __init__(
        self, items: Iterable[Passage | Document | str], titles: Mapping[str, str] | None = None
    ) -> None:
        self.passages: dict[str, Passage] = {}
        self.titles: dict[str, str] = dict(titles or {})
        for i, item in enumerate(items):
            if isinstance(item, str):
                item = Passage(f"p{i}", f"p{i}", item)
            elif isinstance(item, Document):
                self.titles[item.id] = item.title
                item = Passage(item.id, item.id, item.full_text())
            if item.id in self.passages:
                raise ValueError(f"passage id {item.id!r} appears twice in the corpus")
            self.passages[item.id] = item

    @classmethod
    def from_dataset(cls, dataset: Any) -> Corpus:
        """A :class:`~ragdistill.datasets.RetrievalDataset`'s passages and titles."""
        corpus = cls(dataset.passages())
        corpus.titles = {doc.id: doc.title for doc in dataset.corpus.values()}
        return corpus

    def context(self, passage_id: str, score: float) -> Context:
        passage = self.passages[passage_id]
        title = self.titles.get(passage.doc_id, "")
        text = passage.text
        if title and text.startswith(title + "\n"):
            text = text[len(title) + 1 :]
        return Context(passage.id, passage.doc_id, title, text, float(score))

    def __len__(self) -> int:
        return len(self.passages)


class PipelineLike(Protocol):
    """What a framework wrapper runs: a :class:`RagPipeline` or a
    :class:`~ragdistill.rag.router.PipelineRouter` (whose methods also take ``key=``)."""

    def answer(self, question: str, history: Sequence[MessageLike] = ()) -> PipelineAnswer: ...

    def retrieve(self, question: str, history: Sequence[MessageLike] = ()) -> PipelineAnswer: ...

    async def aanswer(
        self, question: str, history: Sequence[MessageLike] = ()
    ) -> PipelineAnswer: ...

    async def aretrieve(
        self, question: str, history: Sequence[MessageLike] = ()
    ) -> PipelineAnswer: ...


def takes_key(pipeline: PipelineLike) -> bool:
    """Whether ``pipeline`` routes by a ``key`` (a router) or ignores one (a pipeline)."""
    import inspect

    return "key" in inspect.signature(pipeline.answer).parameters


class RagPipeline:
    """An arm of a spec, built: its components (shared with other arms through a
    :class:`ComponentPool`), its Chroma index and the spec's ``k`` and ``contexts``.

    Safe to call from several threads: each component is run under its own lock, so
    two requests overlap where they use different components.
    """

    def __init__(
        self,
        stages: Mapping[str, Built],
        index: ChromaIndex,
        corpus: Corpus,
        *,
        k: int = 10,
        contexts: int = 2,
        max_new_tokens: int = 64,
        context_chars: int | None = None,
        prompt: PromptSpec | None = None,
        name: str = "pipeline",
    ) -> None:
        from ragdistill.stages.generator.options import PromptSpec

        self.stages = dict(stages)
        self.index = index
        self.corpus = corpus
        self.k, self.n_contexts, self.max_new_tokens = k, contexts, max_new_tokens
        self.context_chars = context_chars
        self.prompt = prompt or PromptSpec()
        self.name = name
        self._index_lock = self.stages[Embedder.stage].lock

    def answer(
        self, question: str, history: Sequence[MessageLike] = (), *, memo: Memo | None = None
    ) -> PipelineAnswer:
        """Run every stage of the arm on one question (with the conversation before it).

        ``memo`` (one per question, shared by arms) lets an arm reuse a stage's output
        for the same input from an arm that already ran that same component on it, with
        the time that run took: the offline A/B runs shared stages once.
        """
        out = self.retrieve(question, history, memo=memo)
        built = self.stages.get(Generator.stage)
        if built is None:
            return out
        generator = built.component
        assert isinstance(generator, Generator)
        req = request(self.messages(out.queries[0], out.contexts),
                      max_new_tokens=self.max_new_tokens)  # fmt: skip
        generation = _timed(Generator.stage, built, req, lambda: generator.generate_many([req])[0],
                            out.seconds, memo)  # fmt: skip
        out.answer = generation.text.strip()
        if generation.usage:
            out.usage[Generator.stage] = dict(generation.usage)
        return out

    def retrieve(
        self, question: str, history: Sequence[MessageLike] = (), *, memo: Memo | None = None
    ) -> PipelineAnswer:
        """Every stage but the generator: the contexts it would read, in order."""
        if not isinstance(question, str) or not question.strip():
            raise ValueError("question must be a non-empty string")
        seconds: dict[str, float] = {}
        queries = self._transform(question, history, seconds, memo)
        passages = self._search(queries, seconds)
        ranked = self._rerank(queries[0], passages, seconds, memo)
        seen: dict[str, None] = {}
        for pid, _ in ranked:
            seen.setdefault(self.corpus.passages[pid].doc_id, None)
        contexts = [self.corpus.context(pid, s) for pid, s in ranked[: self.n_contexts]]
        return PipelineAnswer(question, queries, list(seen), contexts, None, seconds)

    async def aanswer(self, question: str, history: Sequence[MessageLike] = ()) -> PipelineAnswer:
        """:meth:`answer` in a worker thread: an event loop is never blocked by a model."""
        return await asyncio.to_thread(self.answer, question, history)

    async def aretrieve(self, question: str, history: Sequence[MessageLike] = ()) -> PipelineAnswer:
        return await asyncio.to_thread(self.retrieve, question, history)

    def messages(self, question: str, contexts: Sequence[Context]) -> list[dict[str, str]]:
        """The generator's prompt, exactly as the generator stage trains and evaluates it."""
        from ragdistill.stages.generator.data import cut
        from ragdistill.stages.generator.examples import Context as PromptContext
        from ragdistill.stages.generator.examples import GenerationExample
        from ragdistill.stages.generator.prompt import messages_for

        shown = tuple(
            PromptContext(cut(c.text, self.context_chars), c.title, c.doc_id) for c in contexts
        )
        return messages_for(GenerationExample("", question, shown), self.prompt)

    def _transform(
        self,
        question: str,
        history: Sequence[MessageLike],
        seconds: dict[str, float],
        memo: Memo | None,
    ) -> list[str]:
        built = self.stages.get(QueryTransformer.stage)
        if built is None:
            return [question]
        transformer = built.component
        assert isinstance(transformer, QueryTransformer)
        req = QueryRequest(question, to_messages(history))
        got = _timed(QueryTransformer.stage, built, req,
                     lambda: transformer.transform_many([req])[0], seconds, memo)  # fmt: skip
        return [q for q in got if q.strip()] or [question]

    def _search(self, queries: list[str], seconds: dict[str, float]) -> list[tuple[str, float]]:
        with self._index_lock:
            hits = self.index.search_passages(queries, self.k)
            timing = self.index.last_timing
        assert timing is not None
        seconds[Embedder.stage] = timing.encode_s
        seconds[SEARCH] = timing.search_s
        if len(hits) == 1:
            return hits[0]
        return fuse(hits)[: self.k]

    def _rerank(
        self,
        query: str,
        passages: list[tuple[str, float]],
        seconds: dict[str, float],
        memo: Memo | None,
    ) -> list[tuple[str, float]]:
        built = self.stages.get(Reranker.stage)
        if built is None or not passages:
            return passages
        reranker = built.component
        assert isinstance(reranker, Reranker)
        texts = [self.corpus.passages[pid].text for pid, _ in passages]
        ranked = _timed(Reranker.stage, built, (query, tuple(texts)),
                        lambda: reranker.rerank(query, texts), seconds, memo)  # fmt: skip
        return [(passages[r.index][0], r.score) for r in ranked]


#: Stage outputs by (component, input), with the seconds their run took.
Memo = dict[tuple[int, Any], tuple[Any, float]]
T = TypeVar("T")


def _timed(
    stage: str,
    built: Built,
    key: Any,
    call: Callable[[], T],
    seconds: dict[str, float],
    memo: Memo | None,
) -> T:
    """``call()`` under the component's lock, timed into ``seconds[stage]``; from
    ``memo`` (with the time it took then) when the same component already ran on ``key``."""
    slot = (id(built), key)
    if memo is not None and slot in memo:
        value, seconds[stage] = memo[slot]
        return cast(T, value)
    start = time.perf_counter()
    with built.lock:
        value = call()
    seconds[stage] = time.perf_counter() - start
    if memo is not None:
        memo[slot] = (value, seconds[stage])
    return value


def fuse(rankings: Sequence[Sequence[tuple[str, float]]], constant: int = 60) -> list[tuple[str, float]]:  # fmt: skip
    """Reciprocal rank fusion of several queries' hits: ``sum 1 / (constant + rank)``;
    ties keep first-seen order."""
    scores: dict[str, float] = {}
    for hits in rankings:
        for rank, (pid, _) in enumerate(hits, start=1):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (constant + rank)
    order = {pid: i for i, pid in enumerate(scores)}
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))


def build_pipeline(
    spec: PipelineSpec,
    arm: str,
    corpus: Corpus,
    *,
    index_dir: Path | str | None = None,
    pool: ComponentPool | None = None,
    show_progress: bool = False,
) -> RagPipeline:
    """Arm ``arm`` of ``spec`` over ``corpus``: its components loaded (or taken from
    ``pool``) and the corpus indexed by its embedder in Chroma under ``index_dir``
    (in memory when None). An index already there embeds only what changed."""
    from ragdistill.index.fingerprint import embedder_fingerprint
    from ragdistill.stages.generator.options import PromptSpec

    arms = spec.arms_with_ablation()
    if arm not in arms:
        raise KeyError(f"no arm {arm!r} in the spec; arms: {', '.join(arms)}")
    pool = pool or ComponentPool()
    stages = {s: pool.get(s, arms[arm][s]) for s in STAGE_ORDER if s in arms[arm]}
    embedder = stages[Embedder.stage].component
    assert isinstance(embedder, Embedder)
    collection = f"rag-{embedder_fingerprint(embedder)[:24]}"
    index = pool.index(collection, embedder, index_dir, corpus, show_progress=show_progress)
    for built in stages.values():
        pool.prepare(built, corpus, show_progress=show_progress)
    return RagPipeline(stages, index, corpus, k=spec.k, contexts=spec.contexts,
                       max_new_tokens=spec.max_new_tokens, context_chars=spec.context_chars,
                       prompt=PromptSpec(**spec.prompt),
                       name=arm)  # fmt: skip
