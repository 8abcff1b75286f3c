"""Each adapter through the core contract suites, against the fake server (cache off,
so every check goes over HTTP)."""

from __future__ import annotations

import pytest

from ragdistill.testing.contracts import (
    EmbedderContract,
    GeneratorContract,
    QueryTransformerContract,
    RerankerContract,
)
from ragdistill_openai import (
    OpenAIChatGenerator,
    OpenAIEmbedder,
    OpenAIJudgeReranker,
    OpenAIQueryTransformer,
)


class TestOpenAIEmbedderContract(EmbedderContract):
    normalized = False  # the fake server's hash vectors are not unit length

    @pytest.fixture
    def component(self, connection) -> OpenAIEmbedder:
        return OpenAIEmbedder("m", batch_size=2, cache=False, **connection)


class TestOpenAIJudgeRerankerContract(RerankerContract):
    @pytest.fixture
    def component(self, connection) -> OpenAIJudgeReranker:
        return OpenAIJudgeReranker("m", cache=False, **connection)


class TestOpenAIQueryTransformerContract(QueryTransformerContract):
    @pytest.fixture
    def component(self, connection) -> OpenAIQueryTransformer:
        return OpenAIQueryTransformer("m", cache=False, **connection)


class TestOpenAIChatGeneratorContract(GeneratorContract):
    @pytest.fixture
    def component(self, connection) -> OpenAIChatGenerator:
        return OpenAIChatGenerator("m", cache=False, **connection)
