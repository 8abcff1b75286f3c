"""Every LlamaIndex adapter through its contract suite: reference components, then tiny HF models."""

from __future__ import annotations

from typing import Any

import pytest

from llama_index_ragdistill import (
    RagdistillEmbedding,
    RagdistillFusionRetriever,
    RagdistillLLM,
    RagdistillQueryTransform,
    RagdistillRerank,
)
from llama_index_ragdistill.testing import (
    EmbeddingContract,
    LLMContract,
    NodePostprocessorContract,
    QueryTransformContract,
)


def _fusion(transform: Any) -> Any:
    def build(retrievers: list[Any], num_queries: int) -> RagdistillFusionRetriever:
        return RagdistillFusionRetriever(
            retrievers,
            transform,
            num_queries=num_queries,
            mode="reciprocal_rerank",
            use_async=False,
        )

    return build


class TestReferenceEmbedding(EmbeddingContract):
    @pytest.fixture
    def embed_model(self, hashing_embedder: Any) -> RagdistillEmbedding:
        return RagdistillEmbedding(hashing_embedder)


class TestReferenceRerank(NodePostprocessorContract):
    @pytest.fixture
    def postprocessor(self, overlap_reranker: Any) -> RagdistillRerank:
        return RagdistillRerank(overlap_reranker, top_n=2)


class TestReferenceQueryTransform(QueryTransformContract):
    @pytest.fixture
    def query_transform(self, rule_query_transformer: Any) -> RagdistillQueryTransform:
        return RagdistillQueryTransform(rule_query_transformer)

    @pytest.fixture
    def fusion_retriever(self, rule_query_transformer: Any) -> Any:
        return _fusion(rule_query_transformer)


class TestReferenceLLM(LLMContract):
    @pytest.fixture
    def llm(self, echo_generator: Any) -> RagdistillLLM:
        return RagdistillLLM(echo_generator)


class TestTinyEmbedding(EmbeddingContract):
    @pytest.fixture
    def embed_model(self, tiny_embedder: Any) -> RagdistillEmbedding:
        return RagdistillEmbedding(tiny_embedder)


class TestTinyRerank(NodePostprocessorContract):
    @pytest.fixture
    def postprocessor(self, tiny_reranker: Any) -> RagdistillRerank:
        return RagdistillRerank(tiny_reranker, top_n=2)


class TestTinyQueryTransform(QueryTransformContract):
    @pytest.fixture
    def query_transform(self, tiny_query_transformer: Any) -> RagdistillQueryTransform:
        return RagdistillQueryTransform(tiny_query_transformer)

    @pytest.fixture
    def fusion_retriever(self, query_transform: RagdistillQueryTransform) -> Any:
        return _fusion(query_transform)


class TestTinyLLM(LLMContract):
    @pytest.fixture
    def llm(self, tiny_generator: Any) -> RagdistillLLM:
        return RagdistillLLM(tiny_generator)
