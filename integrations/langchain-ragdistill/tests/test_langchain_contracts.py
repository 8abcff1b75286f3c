"""Every LangChain adapter through its contract suite: reference components, then tiny HF models."""

from __future__ import annotations

from typing import Any

import pytest

from langchain_ragdistill import (
    ChatRagdistill,
    RagdistillEmbeddings,
    RagdistillQueryExpander,
    RagdistillQueryRewriter,
    RagdistillRerank,
)
from langchain_ragdistill.testing import (
    ChatModelContract,
    DocumentCompressorContract,
    EmbeddingsContract,
    QueryExpanderContract,
    QueryRewriterContract,
)


class TestReferenceEmbeddings(EmbeddingsContract):
    @pytest.fixture
    def embeddings(self, hashing_embedder: Any) -> RagdistillEmbeddings:
        return RagdistillEmbeddings(component=hashing_embedder)


class TestReferenceRerank(DocumentCompressorContract):
    @pytest.fixture
    def compressor(self, overlap_reranker: Any) -> RagdistillRerank:
        return RagdistillRerank(component=overlap_reranker)


class TestReferenceRewriter(QueryRewriterContract):
    @pytest.fixture
    def rewriter(self, rule_query_transformer: Any) -> RagdistillQueryRewriter:
        return RagdistillQueryRewriter(component=rule_query_transformer)


class TestReferenceExpander(QueryExpanderContract):
    @pytest.fixture
    def expander(self, rule_query_transformer: Any) -> RagdistillQueryExpander:
        return RagdistillQueryExpander(component=rule_query_transformer)


class TestReferenceChat(ChatModelContract):
    @pytest.fixture
    def chat_model(self, echo_generator: Any) -> ChatRagdistill:
        return ChatRagdistill(component=echo_generator)


class TestTinyEmbeddings(EmbeddingsContract):
    @pytest.fixture
    def embeddings(self, tiny_embedder: Any) -> RagdistillEmbeddings:
        return RagdistillEmbeddings(component=tiny_embedder)


class TestTinyRerank(DocumentCompressorContract):
    @pytest.fixture
    def compressor(self, tiny_reranker: Any) -> RagdistillRerank:
        return RagdistillRerank(component=tiny_reranker)


class TestTinyRewriter(QueryRewriterContract):
    @pytest.fixture
    def rewriter(self, tiny_query_transformer: Any) -> RagdistillQueryRewriter:
        return RagdistillQueryRewriter(component=tiny_query_transformer)


class TestTinyExpander(QueryExpanderContract):
    @pytest.fixture
    def expander(self, tiny_query_transformer: Any) -> RagdistillQueryExpander:
        return RagdistillQueryExpander(component=tiny_query_transformer)


class TestTinyChat(ChatModelContract):
    @pytest.fixture
    def chat_model(self, tiny_generator: Any) -> ChatRagdistill:
        return ChatRagdistill(component=tiny_generator)
