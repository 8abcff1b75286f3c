"""The stage contract suite run on the built-in stages.

Their end-to-end distillations have tests of their own (``test_distill_embedder``,
``tests/generator``, ``tests/query_transformer``,
``tests/rerank``), so no ``tiny_recipe`` is given here.
"""

from __future__ import annotations

import pytest

from ragdistill.testing.stages import StageContract


class TestEmbedderStage(StageContract):
    @pytest.fixture
    def stage_name(self) -> str:
        return "embedder"


class TestRerankerStage(StageContract):
    @pytest.fixture
    def stage_name(self) -> str:
        return "reranker"


class TestGeneratorStage(StageContract):
    @pytest.fixture
    def stage_name(self) -> str:
        return "generator"


class TestQueryTransformerStage(StageContract):
    @pytest.fixture
    def stage_name(self) -> str:
        return "query_transformer"
