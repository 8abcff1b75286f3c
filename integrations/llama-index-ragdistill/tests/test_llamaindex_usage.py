"""Loading from artifacts, metadata, errors, and use through Settings and per-object arguments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.query_engine import TransformQueryEngine

from llama_index_ragdistill import (
    RagdistillEmbedding,
    RagdistillFusionRetriever,
    RagdistillLLM,
    RagdistillQueryTransform,
    RagdistillRerank,
)
from ragdistill.errors import ConfigError

ADAPTERS = {
    "embedder": RagdistillEmbedding,
    "reranker": RagdistillRerank,
    "query_transformer": RagdistillQueryTransform,
    "generator": RagdistillLLM,
}
DOCS = [
    "The capital of France is Paris.",
    "Rivers flow from the mountains to the sea.",
    "Distillation trains a small model to imitate a large one.",
]


@pytest.fixture
def settings() -> Iterator[Any]:
    """The global Settings, restored afterwards so tests do not leak models."""
    saved = (Settings._llm, Settings._embed_model)
    try:
        yield Settings
    finally:
        Settings._llm, Settings._embed_model = saved


@pytest.mark.parametrize("stage", list(ADAPTERS))
def test_from_artifact_exposes_the_manifest(tiny_artifacts: dict[str, Path], stage: str) -> None:
    adapter = ADAPTERS[stage].from_artifact(tiny_artifacts[stage])
    assert adapter.manifest is not None and adapter.manifest["stage"] == stage
    info = adapter.describe()
    assert info["teacher"]["name"] == "tiny-teacher" and info["student"]["name"] == "tiny-student"
    assert info["metrics"]["ndcg@10"] == 0.5 and info["component"]["stage"] == stage


def test_from_pretrained_is_from_artifact(tiny_artifacts: dict[str, Path]) -> None:
    embed = RagdistillEmbedding.from_pretrained(tiny_artifacts["embedder"])
    assert embed.model_name == str(tiny_artifacts["embedder"])
    assert len(embed.get_query_embedding("paris")) > 0


def test_a_plain_model_folder_has_no_manifest(tiny_st_path: Path) -> None:
    embed = RagdistillEmbedding.from_artifact(tiny_st_path)
    assert embed.manifest is None and "teacher" not in embed.describe()


def test_an_artifact_of_another_stage_is_refused(tiny_artifacts: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="holds a reranker, not an embedder"):
        RagdistillEmbedding.from_artifact(tiny_artifacts["reranker"])


@pytest.mark.parametrize("stage", list(ADAPTERS))
def test_a_component_of_another_stage_is_refused(
    overlap_reranker: Any, hashing_embedder: Any, stage: str
) -> None:
    wrong = hashing_embedder if stage == "reranker" else overlap_reranker
    with pytest.raises(TypeError, match="must be a ragdistill"):
        ADAPTERS[stage](wrong)


def test_settings_and_a_query_engine(
    settings: Any, hashing_embedder: Any, overlap_reranker: Any, echo_generator: Any
) -> None:
    settings.embed_model = RagdistillEmbedding(hashing_embedder)
    settings.llm = RagdistillLLM(echo_generator)
    index = VectorStoreIndex.from_documents([Document(text=t) for t in DOCS])
    engine = index.as_query_engine(
        similarity_top_k=3, node_postprocessors=[RagdistillRerank(overlap_reranker, top_n=1)]
    )
    response = engine.query("What is the capital of France?")
    assert response.source_nodes[0].node.get_content() == DOCS[0]
    assert str(response).startswith("echo:")


def test_per_object_arguments(
    hashing_embedder: Any, overlap_reranker: Any, echo_generator: Any
) -> None:
    embed = RagdistillEmbedding(hashing_embedder)
    index = VectorStoreIndex.from_documents([Document(text=t) for t in DOCS], embed_model=embed)
    engine = index.as_query_engine(
        llm=RagdistillLLM(echo_generator),
        node_postprocessors=[RagdistillRerank(overlap_reranker, top_n=2)],
        streaming=True,
    )
    streamed = engine.query("Where do rivers flow?")
    assert "".join(streamed.response_gen).startswith("echo:")
    assert streamed.source_nodes[0].node.get_content() == DOCS[1]


def test_transform_query_engine_with_chat_history(
    hashing_embedder: Any, rule_query_transformer: Any, echo_generator: Any
) -> None:
    index = VectorStoreIndex.from_documents(
        [Document(text=t) for t in DOCS], embed_model=RagdistillEmbedding(hashing_embedder)
    )
    transform = RagdistillQueryTransform(rule_query_transformer)
    engine = TransformQueryEngine(
        index.as_query_engine(llm=RagdistillLLM(echo_generator)), transform
    )
    history = [ChatMessage(role=MessageRole.USER, content="Tell me about France")]
    bundle = transform.run("What is its capital?", metadata={"chat_history": history})
    assert "france" in bundle.query_str.lower()
    assert str(engine.query("What is the capital of France?")).startswith("echo:")


def test_replace_query_false_only_changes_the_embedding(rule_query_transformer: Any) -> None:
    transform = RagdistillQueryTransform(rule_query_transformer, replace_query=False)
    history = [ChatMessage(role=MessageRole.USER, content="Tell me about France")]
    bundle = transform.run("What is its capital?", metadata={"chat_history": history})
    assert bundle.query_str == "What is its capital?"
    assert "france" in bundle.embedding_strs[0].lower()


def test_fusion_retriever_takes_no_llm(rule_query_transformer: Any) -> None:
    with pytest.raises(TypeError, match="takes no llm"):
        RagdistillFusionRetriever([], rule_query_transformer, llm="default")


def test_llm_names_unknown_arguments(echo_generator: Any) -> None:
    with pytest.raises(TypeError, match="tools"):
        RagdistillLLM(echo_generator).complete("hi", tools=[])


def test_llm_refuses_tool_messages(echo_generator: Any) -> None:
    with pytest.raises(ValueError, match="role"):
        RagdistillLLM(echo_generator).chat([ChatMessage(role=MessageRole.TOOL, content="{}")])


def test_llm_system_prompt_and_limits(echo_generator: Any) -> None:
    llm = RagdistillLLM(echo_generator, system_prompt="Be brief.", max_new_tokens=3)
    assert llm.metadata.is_chat_model and llm.metadata.num_output == 3
    assert llm.complete("one two three four five").text == "echo: one two"
    assert llm.complete("one two three", max_new_tokens=2).text == "echo: one"
    assert llm.complete("one two\nthree", stop=["two"], max_new_tokens=9).text == "echo: one "


@pytest.mark.slow
def test_loads_a_model_ragdistill_resolves_by_name() -> None:
    embed = RagdistillEmbedding.from_pretrained("all-MiniLM-L6-v2")
    assert len(embed.get_query_embedding("What does distillation do?")) == 384


def test_from_artifact_loads_through_a_registered_runtime(
    tiny_artifacts: dict[str, Path], recording_runtime: Any
) -> None:
    embed = RagdistillEmbedding.from_artifact(
        tiny_artifacts["embedder"],
        runtime="recording",
        runtime_options={"tag": "li"},
        load_options={"batch_size": 2},
    )
    assert recording_runtime.calls == [
        (tiny_artifacts["embedder"], "embedder", "li", {"batch_size": 2})
    ]
    assert embed.component.batch_size == 2 and len(embed.get_query_embedding("paris")) > 0
    # An instance (built with from_options, validated like a recipe's [runtime]) works too.
    runtime = recording_runtime.from_options({"tag": "instance"})
    rerank = RagdistillRerank.from_artifact(tiny_artifacts["reranker"], runtime=runtime)
    assert recording_runtime.calls[-1][1:3] == ("reranker", "instance")
    assert rerank.manifest is not None
    with pytest.raises(ConfigError, match=r"runtime\.tga: unknown key; did you mean 'tag'"):
        RagdistillEmbedding.from_artifact(
            tiny_artifacts["embedder"], runtime="recording", runtime_options={"tga": "x"}
        )
