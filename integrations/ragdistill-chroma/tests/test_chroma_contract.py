"""The Chroma embedding function through its contract suite, on real embedded Chroma."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ragdistill_chroma import RagdistillEmbeddingFunction
from ragdistill_chroma.testing import EmbeddingFunctionContract


class TestReferenceFunction(EmbeddingFunctionContract):
    @pytest.fixture
    def embedding_function(self, hashing_embedder: Any) -> RagdistillEmbeddingFunction:
        return RagdistillEmbeddingFunction(component=hashing_embedder)


class TestTinyFunction(EmbeddingFunctionContract):
    @pytest.fixture
    def embedding_function(self, tiny_artifacts: dict[str, Path]) -> RagdistillEmbeddingFunction:
        # Loaded from an artifact path, so Chroma can store the config and rebuild it.
        return RagdistillEmbeddingFunction(tiny_artifacts["embedder"])


def test_needs_exactly_one_of_source_or_component(hashing_embedder: Any) -> None:
    with pytest.raises(TypeError, match="exactly one"):
        RagdistillEmbeddingFunction()
    with pytest.raises(TypeError, match="exactly one"):
        RagdistillEmbeddingFunction("x", component=hashing_embedder)


def test_rejects_a_component_of_another_stage(overlap_reranker: Any) -> None:
    with pytest.raises(TypeError, match="Embedder"):
        RagdistillEmbeddingFunction(component=overlap_reranker)


def test_queries_use_the_query_input_type(asymmetric_embedder: Any) -> None:
    ef = RagdistillEmbeddingFunction(component=asymmetric_embedder)
    assert not (ef.embed_query(["paris"])[0] == ef(["paris"])[0]).all()


def test_config_validation_names_the_problem() -> None:
    with pytest.raises(ValueError, match="source"):
        RagdistillEmbeddingFunction.validate_config({"load_options": {}})


@pytest.mark.slow
def test_loads_a_model_ragdistill_resolves_by_name() -> None:
    ef = RagdistillEmbeddingFunction("all-MiniLM-L6-v2")
    assert ef.get_config()["source"] == "all-MiniLM-L6-v2"
    assert len(ef(["What does distillation do?"])[0]) == 384


def test_loads_through_a_named_runtime_and_stores_it(
    tiny_artifacts: dict[str, Path], recording_runtime: Any
) -> None:
    source = tiny_artifacts["embedder"]
    ef = RagdistillEmbeddingFunction(source, runtime="recording", runtime_options={"tag": "ch"})
    assert recording_runtime.calls == [(source.resolve(), "embedder", "ch", {})]
    config = ef.get_config()
    assert (config["runtime"], config["runtime_options"]) == ("recording", {"tag": "ch"})
    rebuilt = RagdistillEmbeddingFunction.build_from_config(config)
    assert rebuilt.component is ef.component  # shared per (source, options, runtime)
    # A runtime instance loads too, but cannot be stored: Chroma treats it as legacy.
    instance = RagdistillEmbeddingFunction(source, runtime=recording_runtime(tag="obj"))
    assert recording_runtime.calls[-1][2] == "obj"
    assert instance.get_config() is NotImplemented
