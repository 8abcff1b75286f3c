"""Reusable contract suites for LangChain components (embeddings, reranker, query, chat).

Subclass a suite in a ``Test*`` class and override its fixture; every test then runs
against your component. They complement ``langchain-tests``' standard suites with the
checks a distilled drop-in must pass: batch == single, sync == async, edge-case input::

    class TestMyEmbeddings(EmbeddingsContract):
        @pytest.fixture
        def embeddings(self):
            return RagdistillEmbeddings.from_artifact("runs/minilm/student")

The suites need only pytest (async methods run under ``asyncio.run``); the checks
with retrievers from ``langchain-classic`` skip when it is not installed. They assume
a deterministic component (greedy decoding), as every ragdistill student is by default.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np
import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable

TEXTS = [
    "The capital of France is Paris.",
    "Rivers flow from the mountains to the sea.",
    "A dog and a cat play in the garden.",
    "Distillation trains a small model to imitate a large one.",
]
QUERY = "What is the capital of France?"
EMPTY = ""
LONG = "distillation " * 4000
UNICODE = "Zürich, 東京, Καλημέρα, naïve café, emoji 🚀 and \u200b zero-width"
EDGE_CASES = [EMPTY, LONG, UNICODE]
EDGE_IDS = ["empty", "over-long", "unicode"]
HISTORY = [("human", "Tell me about France."), ("ai", "France is a country in Europe.")]


def _vector(value: Any, dimension: int | None = None) -> None:
    assert isinstance(value, list) and value, (
        f"an embedding must be a list of floats, got {type(value)}"
    )
    assert all(isinstance(x, float) and math.isfinite(x) for x in value), "non-float or non-finite"
    if dimension is not None:
        assert len(value) == dimension, f"dimension {len(value)}, expected {dimension}"


class KeywordRetriever(BaseRetriever):
    """A real retriever over fixed texts, ranked by shared words: retriever tests need one."""

    texts: list[str]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = set(query.lower().split())
        docs = [Document(page_content=t, id=f"k{i}") for i, t in enumerate(self.texts)]
        return sorted(docs, key=lambda d: -len(words & set(d.page_content.lower().split())))


class EmbeddingsContract:
    """``Embeddings``: shapes, batch == single, sync == async, edge-case inputs."""

    rtol = 1e-4
    atol = 1e-5

    @pytest.fixture
    def embeddings(self) -> Embeddings:
        raise NotImplementedError("override the embeddings fixture")

    def test_shapes(self, embeddings: Embeddings) -> None:
        query = embeddings.embed_query(QUERY)
        _vector(query)
        docs = embeddings.embed_documents(TEXTS)
        assert isinstance(docs, list) and len(docs) == len(TEXTS)
        for vector in docs:
            _vector(vector, len(query))

    def test_batch_equals_single(self, embeddings: Embeddings) -> None:
        batch = embeddings.embed_documents(TEXTS)
        single = [embeddings.embed_documents([t])[0] for t in TEXTS]
        np.testing.assert_allclose(batch, single, rtol=self.rtol, atol=self.atol)

    def test_no_documents(self, embeddings: Embeddings) -> None:
        assert embeddings.embed_documents([]) == []

    def test_async_matches_sync(self, embeddings: Embeddings) -> None:
        async def run() -> tuple[Any, Any]:
            return await embeddings.aembed_query(QUERY), await embeddings.aembed_documents(TEXTS)

        query, docs = asyncio.run(run())
        rtol, atol = self.rtol, self.atol
        np.testing.assert_allclose(query, embeddings.embed_query(QUERY), rtol=rtol, atol=atol)
        np.testing.assert_allclose(docs, embeddings.embed_documents(TEXTS), rtol=rtol, atol=atol)

    @pytest.mark.parametrize("text", EDGE_CASES, ids=EDGE_IDS)
    def test_edge_case_inputs(self, embeddings: Embeddings, text: str) -> None:
        dimension = len(embeddings.embed_query(QUERY))
        _vector(embeddings.embed_query(text), dimension)
        for vector in embeddings.embed_documents([text, TEXTS[0]]):
            _vector(vector, dimension)


class DocumentCompressorContract:
    """A reranking ``BaseDocumentCompressor`` with ``top_n`` that sets ``relevance_score``."""

    atol = 1e-4

    @pytest.fixture
    def compressor(self) -> BaseDocumentCompressor:
        raise NotImplementedError("override the compressor fixture")

    def _scores(
        self, c: BaseDocumentCompressor, texts: list[str], query: str = QUERY
    ) -> dict[str, float]:
        out = c.compress_documents([Document(page_content=t) for t in texts], query)
        return {d.page_content: d.metadata["relevance_score"] for d in out}

    def _all(self, c: BaseDocumentCompressor) -> BaseDocumentCompressor:
        return c.model_copy(update={"top_n": None})

    def test_sorted_and_scored(self, compressor: BaseDocumentCompressor) -> None:
        docs = [
            Document(page_content=t, metadata={"i": i}, id=f"d{i}") for i, t in enumerate(TEXTS)
        ]
        out = self._all(compressor).compress_documents(docs, QUERY)
        assert sorted(d.page_content for d in out) == sorted(TEXTS)
        scores = [d.metadata["relevance_score"] for d in out]
        assert all(isinstance(s, float) and math.isfinite(s) for s in scores)
        assert scores == sorted(scores, reverse=True)
        assert all(d.id is not None and d.metadata["i"] == int(d.id[1:]) for d in out), (
            "metadata or id lost"
        )
        assert all("relevance_score" not in d.metadata for d in docs), "inputs were modified"

    def test_top_n_cuts_the_list(self, compressor: BaseDocumentCompressor) -> None:
        docs = [Document(page_content=t) for t in TEXTS]
        for top_n in (0, 1, 2, len(TEXTS) + 3):
            out = compressor.model_copy(update={"top_n": top_n}).compress_documents(docs, QUERY)
            assert len(out) == min(top_n, len(TEXTS))

    def test_batch_equals_single(self, compressor: BaseDocumentCompressor) -> None:
        together = self._scores(self._all(compressor), TEXTS)
        for text in TEXTS:
            alone = self._scores(self._all(compressor), [text])[text]
            assert together[text] == pytest.approx(alone, abs=self.atol)

    def test_async_matches_sync(self, compressor: BaseDocumentCompressor) -> None:
        c = self._all(compressor)
        docs = [Document(page_content=t) for t in TEXTS]
        out = asyncio.run(c.acompress_documents(docs, QUERY))
        sync = self._scores(c, TEXTS)
        for d in out:
            assert d.metadata["relevance_score"] == pytest.approx(
                sync[d.page_content], abs=self.atol
            )

    def test_no_documents(self, compressor: BaseDocumentCompressor) -> None:
        assert list(compressor.compress_documents([], QUERY)) == []

    @pytest.mark.parametrize("text", EDGE_CASES, ids=EDGE_IDS)
    def test_edge_case_inputs(self, compressor: BaseDocumentCompressor, text: str) -> None:
        c = self._all(compressor)
        assert all(math.isfinite(s) for s in self._scores(c, [text, TEXTS[0]]).values())
        assert all(math.isfinite(s) for s in self._scores(c, TEXTS, query=text).values())

    def test_in_a_contextual_compression_retriever(
        self, compressor: BaseDocumentCompressor
    ) -> None:
        module = pytest.importorskip("langchain_classic.retrievers.contextual_compression")
        retriever = module.ContextualCompressionRetriever(
            base_compressor=compressor.model_copy(update={"top_n": 2}),
            base_retriever=KeywordRetriever(texts=TEXTS),
        )
        docs = retriever.invoke(QUERY)
        assert len(docs) == 2 and all("relevance_score" in d.metadata for d in docs)
        assert [d.page_content for d in asyncio.run(retriever.ainvoke(QUERY))] == [
            d.page_content for d in docs
        ]


class QueryRewriterContract:
    """A ``Runnable`` from a query (str or ``{"question", "chat_history"}``) to one query."""

    @pytest.fixture
    def rewriter(self) -> Runnable[Any, str]:
        raise NotImplementedError("override the rewriter fixture")

    def test_rewrites_to_a_query(self, rewriter: Runnable[Any, str]) -> None:
        out = rewriter.invoke(QUERY)
        assert isinstance(out, str) and out
        assert rewriter.invoke({"question": QUERY}) == out

    def test_takes_the_chat_history(self, rewriter: Runnable[Any, str]) -> None:
        out = rewriter.invoke({"question": "What is its capital?", "chat_history": HISTORY})
        assert isinstance(out, str) and out

    def test_batch_equals_single_and_async(self, rewriter: Runnable[Any, str]) -> None:
        inputs = [
            QUERY,
            "rivers and the sea",
            {"question": "its capital?", "chat_history": HISTORY},
        ]
        single = [rewriter.invoke(x) for x in inputs]
        assert rewriter.batch(inputs) == single
        assert asyncio.run(rewriter.abatch(inputs)) == single
        assert asyncio.run(rewriter.ainvoke(inputs[0])) == single[0]

    @pytest.mark.parametrize("text", EDGE_CASES, ids=EDGE_IDS)
    def test_edge_case_inputs(self, rewriter: Runnable[Any, str], text: str) -> None:
        assert isinstance(rewriter.invoke(text), str)

    def test_rejects_what_it_cannot_read(self, rewriter: Runnable[Any, str]) -> None:
        with pytest.raises(TypeError):
            rewriter.invoke({"not_a_query": QUERY})

    def test_in_a_rephrase_retriever(self, rewriter: Runnable[Any, str]) -> None:
        module = pytest.importorskip("langchain_classic.retrievers.re_phraser")
        retriever = module.RePhraseQueryRetriever(
            retriever=KeywordRetriever(texts=TEXTS), llm_chain=rewriter
        )
        assert len(retriever.invoke(QUERY)) == len(TEXTS)


class QueryExpanderContract:
    """A ``Runnable`` from a query to a list of queries, fit for ``MultiQueryRetriever``."""

    @pytest.fixture
    def expander(self) -> Runnable[Any, list[str]]:
        raise NotImplementedError("override the expander fixture")

    def test_expands_to_queries(self, expander: Runnable[Any, list[str]]) -> None:
        out = expander.invoke({"question": QUERY})
        assert isinstance(out, list) and out and all(isinstance(q, str) and q for q in out)
        assert len(set(out)) == len(out)
        assert expander.invoke(QUERY) == out

    def test_batch_equals_single_and_async(self, expander: Runnable[Any, list[str]]) -> None:
        inputs = [QUERY, {"question": "rivers and the sea"}]
        single = [expander.invoke(x) for x in inputs]
        assert expander.batch(inputs) == single
        assert asyncio.run(expander.abatch(inputs)) == single

    @pytest.mark.parametrize("text", EDGE_CASES, ids=EDGE_IDS)
    def test_edge_case_inputs(self, expander: Runnable[Any, list[str]], text: str) -> None:
        out = expander.invoke(text)
        assert isinstance(out, list) and all(isinstance(q, str) for q in out)

    def test_in_a_multi_query_retriever(self, expander: Runnable[Any, list[str]]) -> None:
        module = pytest.importorskip("langchain_classic.retrievers.multi_query")
        retriever = module.MultiQueryRetriever(
            retriever=KeywordRetriever(texts=TEXTS), llm_chain=expander
        )
        docs = retriever.invoke(QUERY)
        assert len(docs) == len(TEXTS)
        assert len(asyncio.run(retriever.ainvoke(QUERY))) == len(TEXTS)


class ChatModelContract:
    """A ``BaseChatModel``: invoke, stream, batch and async agree; stop; edge-case prompts."""

    @pytest.fixture
    def chat_model(self) -> BaseChatModel:
        raise NotImplementedError("override the chat_model fixture")

    def test_invoke_and_stream_agree(self, chat_model: BaseChatModel) -> None:
        reply = chat_model.invoke([("system", "Be brief."), ("human", QUERY)])
        assert isinstance(reply, AIMessage) and isinstance(reply.content, str)
        chunks = list(chat_model.stream([("system", "Be brief."), ("human", QUERY)]))
        assert "".join(str(c.content) for c in chunks) == reply.content

    def test_batch_and_async_agree(self, chat_model: BaseChatModel) -> None:
        prompts: list[LanguageModelInput] = [QUERY, "Name a river."]
        single = [chat_model.invoke(p).content for p in prompts]
        assert [m.content for m in chat_model.batch(prompts)] == single

        async def run() -> tuple[list[Any], str, str]:
            batch = await chat_model.abatch(prompts)
            streamed = "".join([str(c.content) async for c in chat_model.astream(prompts[0])])
            return (
                [m.content for m in batch],
                str((await chat_model.ainvoke(prompts[0])).content),
                streamed,
            )

        abatch, ainvoke, astream = asyncio.run(run())
        assert abatch == single and ainvoke == astream == single[0]

    def test_conversation_and_stop(self, chat_model: BaseChatModel) -> None:
        messages = [*HISTORY, ("human", "And its capital?")]
        assert isinstance(chat_model.invoke(messages).content, str)
        assert isinstance(chat_model.invoke(QUERY, stop=["\n"], max_tokens=4).content, str)

    @pytest.mark.parametrize("text", EDGE_CASES, ids=EDGE_IDS)
    def test_edge_case_prompts(self, chat_model: BaseChatModel, text: str) -> None:
        assert isinstance(chat_model.invoke(text, max_tokens=8).content, str)

    def test_in_a_chain(self, chat_model: BaseChatModel) -> None:
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate

        prompt = ChatPromptTemplate.from_messages([("system", "Answer briefly."), ("human", "{q}")])
        assert isinstance((prompt | chat_model | StrOutputParser()).invoke({"q": QUERY}), str)
