"""Adapters rebuild and copy themselves: to_dict/from_dict, deepcopy, pickle, and a
multi-process IngestionPipeline (issue #20, item 2)."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_index.core import Document
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import NodeWithScore, TextNode

from llama_index_ragdistill import (
    ComponentSpec,
    RagdistillEmbedding,
    RagdistillLLM,
    RagdistillQueryTransform,
    RagdistillRerank,
)

QUERY = "What is the capital of France?"
TEXTS = ["Paris is the capital of France.", "Rivers flow to the sea.", "Cats purr."]


def _scores(rerank: Any) -> list[float]:
    nodes = [NodeWithScore(node=TextNode(text=t, id_=str(i))) for i, t in enumerate(TEXTS)]
    return [float(n.score or 0.0) for n in rerank.postprocess_nodes(nodes, query_str=QUERY)]


#: What each adapter computes, to compare a copy with its original.
PROBES: dict[str, Callable[[Any], Any]] = {
    "embedder": lambda a: a.get_query_embedding(QUERY),
    "reranker": _scores,
    "query_transformer": lambda a: a.run(QUERY).query_str,
    "generator": lambda a: a.complete(QUERY).text,
}
STAGES = list(PROBES)


def _same(a: Any, b: Any) -> None:
    if isinstance(a, list) and a and isinstance(a[0], float):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    else:
        assert a == b


@pytest.fixture(scope="module")
def built(
    tiny_artifacts: dict[str, Path], tiny_st_path: Path, tiny_lm_path: Path
) -> dict[str, dict[str, Any]]:
    """Each stage's adapter from an artifact and from a teacher kind."""
    return {
        "artifact": {
            "embedder": RagdistillEmbedding.from_artifact(tiny_artifacts["embedder"]),
            "reranker": RagdistillRerank.from_artifact(tiny_artifacts["reranker"], top_n=2),
            "query_transformer": RagdistillQueryTransform.from_artifact(
                tiny_artifacts["query_transformer"], replace_query=False
            ),
            "generator": RagdistillLLM.from_artifact(tiny_artifacts["generator"], max_new_tokens=4),
        },
        "teacher": {
            "embedder": RagdistillEmbedding.from_teacher(
                "sentence-transformers", model=str(tiny_st_path), batch_size=4
            ),
            "reranker": RagdistillRerank.from_teacher(
                "bi-encoder", model=str(tiny_st_path), top_n=2
            ),
            "query_transformer": RagdistillQueryTransform.from_teacher(
                "hf-llm", model=str(tiny_lm_path), task="rewrite", max_new_tokens=4
            ),
            "generator": RagdistillLLM.from_teacher(
                "hf-causal-lm", model=str(tiny_lm_path), max_new_tokens=4
            ),
        },
    }


@pytest.mark.parametrize("how", ["artifact", "teacher"])
@pytest.mark.parametrize("stage", STAGES)
def test_to_dict_from_dict_rebuilds_lazily(
    built: dict[str, dict[str, Any]], how: str, stage: str
) -> None:
    adapter = built[how][stage]
    data = adapter.to_dict()
    assert data["class_name"] == adapter.class_name()
    assert data["component_spec"][how] is not None
    again = type(adapter).from_dict(data)
    assert again._slot.loaded is None  # nothing loads until it is used
    assert again.to_dict() == data
    _same(PROBES[stage](again), PROBES[stage](adapter))
    assert again._slot.loaded is not None


@pytest.mark.parametrize("how", ["artifact", "teacher"])
@pytest.mark.parametrize("stage", STAGES)
def test_pickle_carries_the_spec_not_the_model(
    built: dict[str, dict[str, Any]], how: str, stage: str
) -> None:
    adapter = built[how][stage]
    expected = PROBES[stage](adapter)  # loaded: still pickled as its description
    again = pickle.loads(pickle.dumps(adapter))
    assert again._slot.loaded is None and again.to_dict() == adapter.to_dict()
    _same(PROBES[stage](again), expected)


@pytest.mark.parametrize("stage", STAGES)
def test_deepcopy_shares_the_loaded_component(built: dict[str, dict[str, Any]], stage: str) -> None:
    adapter = built["teacher"][stage]
    expected = PROBES[stage](adapter)
    twin = copy.deepcopy(adapter)
    assert twin is not adapter and twin.component is adapter.component
    _same(PROBES[stage](twin), expected)


def test_a_component_built_in_code(
    hashing_embedder: Any, tiny_embedder: Any, tiny_generator: Any
) -> None:
    """It has no description: it pickles if its component does, else says what to do."""
    embed = RagdistillEmbedding(hashing_embedder)
    assert embed.component_spec is None
    again = pickle.loads(pickle.dumps(embed))
    assert again.get_query_embedding(QUERY) == embed.get_query_embedding(QUERY)
    assert copy.deepcopy(RagdistillEmbedding(tiny_embedder)).component is tiny_embedder

    llm = RagdistillLLM(tiny_generator, max_new_tokens=4)  # pickled whole, reloads lazily
    assert pickle.loads(pickle.dumps(llm)).complete(QUERY).text == llm.complete(QUERY).text
    with pytest.raises(TypeError, match="records no component_spec"):
        RagdistillLLM.from_dict(llm.to_dict())


def test_a_component_that_does_not_pickle_says_what_to_do(echo_generator: Any) -> None:
    echo_generator.on_reply = lambda text: text  # a lambda does not pickle
    llm = RagdistillLLM(echo_generator)
    with pytest.raises(TypeError, match=r"RagdistillLLM\.from_artifact\(path\) or") as exc:
        pickle.dumps(llm)
    assert "its component, EchoGenerator, was built in code" in str(exc.value)
    assert copy.deepcopy(llm).component is echo_generator


def test_a_query_transform_built_in_code_pickles(rule_query_transformer: Any) -> None:
    transform = RagdistillQueryTransform(rule_query_transformer, include_original=False)
    again = pickle.loads(pickle.dumps(transform))
    assert again.include_original is False and again.run(QUERY) == transform.run(QUERY)


def test_credentials_stay_out_of_the_description(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ragdistill_openai")
    monkeypatch.setenv("OPENAI_API_KEY", "from-the-environment")
    secret = "sk-" + "a1B2" * 8
    embed = RagdistillEmbedding.from_teacher(
        "openai", model="text-embedding-3-small", api_key=secret
    )
    assert secret not in repr(embed.to_dict()) and secret not in repr(pickle.dumps(embed))
    assert embed.to_dict()["component_spec"]["options"] == {"model": "text-embedding-3-small"}


def test_a_spec_names_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one of artifact= or teacher="):
        ComponentSpec(artifact="x", teacher="bi-encoder")
    with pytest.raises(ValueError, match="runtime= goes with artifact="):
        ComponentSpec(teacher="bi-encoder", runtime="torch")


def test_a_relative_folder_is_recorded_absolute(
    tiny_artifacts: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tiny_artifacts["embedder"]
    monkeypatch.chdir(folder.parent)
    embed = RagdistillEmbedding.from_artifact(folder.name)
    assert embed.model_name == folder.name
    assert embed.component_spec is not None and embed.component_spec.artifact == str(folder)


def test_a_multi_process_ingestion_pipeline(tiny_artifacts: dict[str, Path]) -> None:
    """``num_workers=2`` pickles the transformations into spawned processes."""
    embed = RagdistillEmbedding.from_artifact(tiny_artifacts["embedder"])
    docs = [Document(text=f"{t} " * 3, id_=f"d{i}") for i, t in enumerate(TEXTS * 2)]

    def run(workers: int | None) -> list[Any]:
        # Only the embedding: LlamaIndex 0.14's SentenceSplitter drops its split functions
        # when pickled, and a spawned worker then never returns.
        pipeline = IngestionPipeline(transformations=[embed])
        return pipeline.run(documents=docs, num_workers=workers)

    parallel, serial = run(2), run(None)
    assert len(parallel) == len(serial) == len(docs)
    by_text = {n.get_content(): n.embedding for n in serial}
    for node in parallel:
        np.testing.assert_allclose(
            node.embedding, by_text[node.get_content()], rtol=1e-5, atol=1e-6
        )
