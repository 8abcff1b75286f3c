"""Reusable contract suites for LlamaIndex components (embedding, reranker, query, LLM).

Subclass a suite in a ``Test*`` class and override its fixture; every test then runs
against your component, in the spirit of ``langchain-tests``' standard suites::

    class TestMyEmbedding(EmbeddingContract):
        @pytest.fixture
        def embed_model(self):
            return RagdistillEmbedding.from_artifact("runs/minilm/student")

The suites need only pytest: async methods run under ``asyncio.run``. They assume a
deterministic component (greedy decoding), as every ragdistill student is by default.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np
import pytest
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.indices.query.query_transform.base import BaseQueryTransform
from llama_index.core.llms import LLM
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

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


def _vector(value: Any, dimension: int | None = None) -> np.ndarray:
    assert isinstance(value, list), f"an embedding must be a list of floats, got {type(value)}"
    assert all(isinstance(x, float) for x in value), "every component must be a Python float"
    array = np.asarray(value, dtype=np.float64)
    assert array.ndim == 1 and array.size > 0
    assert np.isfinite(array).all(), "embedding holds NaN or inf"
    if dimension is not None:
        assert array.size == dimension, f"dimension {array.size}, expected {dimension}"
    return array


class EmbeddingContract:
    """A ``BaseEmbedding``: shapes, batch == single, sync == async, edge-case inputs."""

    rtol = 1e-4
    atol = 1e-5

    @pytest.fixture
    def embed_model(self) -> BaseEmbedding:
        raise NotImplementedError("override the embed_model fixture")

    def test_query_and_text_vectors_share_a_dimension(self, embed_model: BaseEmbedding) -> None:
        query = _vector(embed_model.get_query_embedding(QUERY))
        _vector(embed_model.get_text_embedding(TEXTS[0]), query.size)

    def test_batch_equals_single(self, embed_model: BaseEmbedding) -> None:
        batch = embed_model.get_text_embedding_batch(TEXTS)
        assert len(batch) == len(TEXTS)
        for text, vector in zip(TEXTS, batch, strict=True):
            single = embed_model.get_text_embedding(text)
            np.testing.assert_allclose(vector, single, rtol=self.rtol, atol=self.atol)

    def test_batch_of_none_is_empty(self, embed_model: BaseEmbedding) -> None:
        assert embed_model.get_text_embedding_batch([]) == []

    def test_async_matches_sync(self, embed_model: BaseEmbedding) -> None:
        async def run() -> tuple[Any, Any, Any]:
            return (
                await embed_model.aget_query_embedding(QUERY),
                await embed_model.aget_text_embedding(TEXTS[0]),
                await embed_model.aget_text_embedding_batch(TEXTS),
            )

        query, text, batch = asyncio.run(run())
        close: dict[str, Any] = {"rtol": self.rtol, "atol": self.atol}
        np.testing.assert_allclose(query, embed_model.get_query_embedding(QUERY), **close)
        np.testing.assert_allclose(text, embed_model.get_text_embedding(TEXTS[0]), **close)
        np.testing.assert_allclose(batch, embed_model.get_text_embedding_batch(TEXTS), **close)

    @pytest.mark.parametrize("text", EDGE_CASES, ids=["empty", "over-long", "unicode"])
    def test_edge_case_inputs(self, embed_model: BaseEmbedding, text: str) -> None:
        dimension = len(embed_model.get_query_embedding(QUERY))
        _vector(embed_model.get_query_embedding(text), dimension)
        _vector(embed_model.get_text_embedding(text), dimension)
        assert len(embed_model.get_text_embedding_batch([text, TEXTS[0]])) == 2


def _nodes(texts: list[str]) -> list[NodeWithScore]:
    return [
        NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=0.5) for i, t in enumerate(texts)
    ]


class NodePostprocessorContract:
    """A reranking ``BaseNodePostprocessor`` with a ``top_n`` field."""

    atol = 1e-4

    @pytest.fixture
    def postprocessor(self) -> BaseNodePostprocessor:
        raise NotImplementedError("override the postprocessor fixture")

    def _scores(
        self, pp: BaseNodePostprocessor, texts: list[str], query: str = QUERY
    ) -> dict[str, float]:
        out = pp.postprocess_nodes(_nodes(texts), query_str=query)
        return {n.node.get_content(): float(n.score) for n in out}  # type: ignore[arg-type]

    def test_sorted_by_descending_score(self, postprocessor: BaseNodePostprocessor) -> None:
        out = postprocessor.model_copy(update={"top_n": None}).postprocess_nodes(
            _nodes(TEXTS), query_str=QUERY
        )
        assert sorted(n.node.get_content() for n in out) == sorted(TEXTS)
        scores = [n.score for n in out]
        assert all(isinstance(s, float) and math.isfinite(s) for s in scores)
        ordered = [s for s in scores if s is not None]  # every score, as just checked
        assert ordered == sorted(ordered, reverse=True)

    def test_top_n_cuts_the_list(self, postprocessor: BaseNodePostprocessor) -> None:
        for top_n in (0, 1, 2, len(TEXTS) + 3):
            out = postprocessor.model_copy(update={"top_n": top_n}).postprocess_nodes(
                _nodes(TEXTS), query_str=QUERY
            )
            assert len(out) == min(top_n, len(TEXTS))

    def test_batch_equals_single(self, postprocessor: BaseNodePostprocessor) -> None:
        pp = postprocessor.model_copy(update={"top_n": None})
        together = self._scores(pp, TEXTS)
        for text in TEXTS:
            assert together[text] == pytest.approx(self._scores(pp, [text])[text], abs=self.atol)

    def test_async_matches_sync(self, postprocessor: BaseNodePostprocessor) -> None:
        pp = postprocessor.model_copy(update={"top_n": None})
        out = asyncio.run(pp.apostprocess_nodes(_nodes(TEXTS), query_str=QUERY))
        sync = self._scores(pp, TEXTS)
        for n in out:
            assert float(n.score) == pytest.approx(sync[n.node.get_content()], abs=self.atol)  # type: ignore[arg-type]

    def test_no_nodes_gives_no_nodes(self, postprocessor: BaseNodePostprocessor) -> None:
        assert postprocessor.postprocess_nodes([], query_str=QUERY) == []

    def test_needs_a_query(self, postprocessor: BaseNodePostprocessor) -> None:
        with pytest.raises(ValueError):
            postprocessor.postprocess_nodes(_nodes(TEXTS))

    @pytest.mark.parametrize("text", EDGE_CASES, ids=["empty", "over-long", "unicode"])
    def test_edge_case_inputs(self, postprocessor: BaseNodePostprocessor, text: str) -> None:
        pp = postprocessor.model_copy(update={"top_n": None})
        assert all(math.isfinite(s) for s in self._scores(pp, [text, TEXTS[0]]).values())
        assert all(math.isfinite(s) for s in self._scores(pp, TEXTS, query=text).values())


class KeywordRetriever(BaseRetriever):
    """A real retriever over fixed texts, scored by shared words: fusion tests need one."""

    def __init__(self, texts: list[str]) -> None:
        self._nodes = [TextNode(text=t, id_=f"k{i}") for i, t in enumerate(texts)]
        super().__init__()

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        words = set(query_bundle.query_str.lower().split())
        scored = [
            NodeWithScore(node=n, score=float(len(words & set(n.text.lower().split()))))
            for n in self._nodes
        ]
        return sorted(scored, key=lambda n: -float(n.score or 0))


class QueryTransformContract:
    """A rewriting ``BaseQueryTransform`` and a fusion retriever built on its expansions.

    Override ``query_transform`` and ``fusion_retriever`` (a factory taking the
    retrievers to fuse and ``num_queries``).
    """

    @pytest.fixture
    def query_transform(self) -> BaseQueryTransform:
        raise NotImplementedError("override the query_transform fixture")

    @pytest.fixture
    def fusion_retriever(self) -> Any:
        raise NotImplementedError(
            "override: return a factory (retrievers, num_queries) -> retriever"
        )

    def test_rewrite_is_a_query_bundle(self, query_transform: BaseQueryTransform) -> None:
        out = query_transform.run(QUERY)
        assert isinstance(out, QueryBundle) and isinstance(out.query_str, str) and out.query_str
        assert all(isinstance(s, str) and s for s in out.embedding_strs)

    def test_takes_the_chat_history(self, query_transform: BaseQueryTransform) -> None:
        history = [
            ChatMessage(role=MessageRole.USER, content="Tell me about France."),
            ChatMessage(role=MessageRole.ASSISTANT, content="France is a country in Europe."),
        ]
        out = query_transform.run("What is its capital?", metadata={"chat_history": history})
        assert isinstance(out.query_str, str) and out.query_str

    def test_same_query_same_rewrite(self, query_transform: BaseQueryTransform) -> None:
        assert query_transform.run(QUERY).query_str == query_transform.run(QUERY).query_str

    @pytest.mark.parametrize("text", [LONG, UNICODE], ids=["over-long", "unicode"])
    def test_edge_case_inputs(self, query_transform: BaseQueryTransform, text: str) -> None:
        assert isinstance(query_transform.run(text).query_str, str)

    def test_empty_query_passes_through(self, query_transform: BaseQueryTransform) -> None:
        assert isinstance(query_transform.run(EMPTY), QueryBundle)

    @pytest.mark.parametrize("num_queries", [1, 3])
    def test_fusion_retrieval_sync_and_async(self, fusion_retriever: Any, num_queries: int) -> None:
        retriever = fusion_retriever([KeywordRetriever(TEXTS)], num_queries)
        nodes = retriever.retrieve(QUERY)
        assert 0 < len(nodes) <= len(TEXTS)
        assert len({n.node.node_id for n in nodes}) == len(nodes)
        anodes = asyncio.run(retriever.aretrieve(QUERY))
        assert [n.node.node_id for n in anodes] == [n.node.node_id for n in nodes]

    def test_fusion_queries_are_new_and_bounded(self, fusion_retriever: Any) -> None:
        retriever = fusion_retriever([KeywordRetriever(TEXTS)], 4)
        queries = [q.query_str for q in retriever._get_queries(QUERY)]
        assert len(queries) <= 3 and all(isinstance(q, str) and q for q in queries)
        assert QUERY not in queries and len(set(queries)) == len(queries)
        assert [q.query_str for q in asyncio.run(retriever._aget_queries(QUERY))] == queries


class LLMContract:
    """A chat ``LLM``: complete/chat, their stream and async forms agree; edge-case prompts."""

    @pytest.fixture
    def llm(self) -> LLM:
        raise NotImplementedError("override the llm fixture")

    def test_metadata(self, llm: LLM) -> None:
        assert llm.metadata.context_window > 0 and llm.metadata.num_output > 0

    def test_complete_and_stream_agree(self, llm: LLM) -> None:
        text = llm.complete(QUERY).text
        assert isinstance(text, str)
        chunks = list(llm.stream_complete(QUERY))
        assert "".join(c.delta or "" for c in chunks) == text
        assert (chunks[-1].text if chunks else "") == text

    def test_chat_and_stream_agree(self, llm: LLM) -> None:
        messages = [
            ChatMessage(role=MessageRole.SYSTEM, content="Be brief."),
            ChatMessage(content=QUERY),
        ]
        reply = llm.chat(messages).message
        assert reply.role == MessageRole.ASSISTANT and isinstance(reply.content, str)
        chunks = list(llm.stream_chat(messages))
        assert "".join(c.delta or "" for c in chunks) == reply.content

    def test_async_matches_sync(self, llm: LLM) -> None:
        messages = [ChatMessage(content=QUERY)]

        async def run() -> tuple[str, str, str, str]:
            stream = await llm.astream_complete(QUERY)
            streamed = "".join([c.delta or "" async for c in stream])
            chat_stream = await llm.astream_chat(messages)
            chatted = "".join([c.delta or "" async for c in chat_stream])
            return (
                (await llm.acomplete(QUERY)).text,
                streamed,
                (await llm.achat(messages)).message.content or "",
                chatted,
            )

        completed, streamed, chatted, chat_streamed = asyncio.run(run())
        assert completed == streamed == llm.complete(QUERY).text
        assert chatted == chat_streamed == (llm.chat(messages).message.content or "")

    def test_per_call_parameters(self, llm: LLM) -> None:
        assert isinstance(
            llm.complete(QUERY, max_new_tokens=4, temperature=0.0, stop=["\n"]).text, str
        )

    @pytest.mark.parametrize("text", EDGE_CASES, ids=["empty", "over-long", "unicode"])
    def test_edge_case_prompts(self, llm: LLM, text: str) -> None:
        assert isinstance(llm.complete(text, max_new_tokens=8).text, str)

    def test_predict_through_a_prompt_template(self, llm: LLM) -> None:
        from llama_index.core.prompts import PromptTemplate

        out = llm.predict(PromptTemplate("Answer in one word: {question}"), question=QUERY)
        assert isinstance(out, str)
