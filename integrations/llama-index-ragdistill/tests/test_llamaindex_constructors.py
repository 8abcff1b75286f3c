"""Every adapter's constructors: from_teacher for each registered kind, from_artifact, and
load errors that name the constructor or kind that would work (issue #20, item 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core.schema import NodeWithScore, TextNode

from llama_index_ragdistill import (
    RagdistillEmbedding,
    RagdistillLLM,
    RagdistillQueryTransform,
    RagdistillRerank,
)
from ragdistill.errors import ConfigError, UnknownNameError

TEXTS = ["Paris is the capital of France.", "Rivers flow to the sea.", "Cats purr."]


def _nodes() -> list[NodeWithScore]:
    return [NodeWithScore(node=TextNode(text=t), score=0.0) for t in TEXTS]


def test_from_teacher_builds_each_stage(
    tiny_st_path: Path, tiny_ce_path: Path, tiny_t5_path: Path, tiny_lm_path: Path
) -> None:
    embed = RagdistillEmbedding.from_teacher("sentence-transformers", model=str(tiny_st_path))
    assert embed.model_name == str(tiny_st_path) and len(embed.get_text_embedding("a")) > 0

    rerank = RagdistillRerank.from_teacher("cross-encoder", model=str(tiny_ce_path), top_n=2)
    assert rerank.top_n == 2 and rerank.model == str(tiny_ce_path)
    assert len(rerank.postprocess_nodes(_nodes(), query_str="capital of France")) == 2

    rewrite = RagdistillQueryTransform.from_teacher(
        "hf-seq2seq", model=str(tiny_t5_path), num_beams=1, max_new_tokens=4, replace_query=False
    )
    assert rewrite.replace_query is False and rewrite.component.num_beams == 1
    assert rewrite.run("What is its capital?").query_str == "What is its capital?"

    llm = RagdistillLLM.from_teacher("hf-causal-lm", model=str(tiny_lm_path), max_new_tokens=5)
    assert llm.max_new_tokens == 5 and llm.component.max_new_tokens is None  # a field of llm
    assert llm.metadata.num_output == 5 and isinstance(llm.complete("hi").text, str)


def test_load_options_reach_the_component_when_names_clash(tiny_lm_path: Path) -> None:
    """``max_new_tokens`` is a field of RagdistillLLM and an option of the generator."""
    llm = RagdistillLLM.from_teacher(
        "hf-causal-lm", model=str(tiny_lm_path), load_options={"max_new_tokens": 3, "seed": 1}
    )
    assert llm.component.max_new_tokens == 3 and llm.component.seed == 1
    assert llm.max_new_tokens == 3  # the field follows the generator's cap
    assert llm.component_spec is not None
    assert llm.component_spec.options == {
        "model": str(tiny_lm_path),
        "max_new_tokens": 3,
        "seed": 1,
    }


def test_a_reranker_on_an_embedding_model(tiny_st_path: Path) -> None:
    """The bi-encoder kind turns an embedding model into a reranker, options split by name."""
    rerank = RagdistillRerank.from_teacher(
        "bi-encoder", model=str(tiny_st_path), batch_size=2, top_n=1, keep_retrieval_score=True
    )
    assert rerank.component.batch_size == 2 and rerank.keep_retrieval_score
    assert rerank.component_spec is not None
    assert rerank.component_spec.options == {"model": str(tiny_st_path), "batch_size": 2}
    assert len(rerank.postprocess_nodes(_nodes(), query_str="capital")) == 1


def test_an_unknown_option_names_both_lists(tiny_st_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown option 'top_m'; did you mean 'top_n'") as exc:
        RagdistillRerank.from_teacher("bi-encoder", model=str(tiny_st_path), top_m=2)
    assert "bi-encoder reranker takes" in str(exc.value) and "RagdistillRerank takes" in str(
        exc.value
    )


def test_a_bad_component_option_is_validated(tiny_st_path: Path) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        RagdistillEmbedding.from_teacher(
            "sentence-transformers", model=str(tiny_st_path), batch_size="many"
        )


def test_a_kind_of_another_stage_names_its_adapter() -> None:
    with pytest.raises(UnknownNameError, match=r"RagdistillEmbedding\.from_teacher"):
        RagdistillRerank.from_teacher("sentence-transformers", model="x")
    with pytest.raises(UnknownNameError, match="did you mean 'bi-encoder'"):
        RagdistillRerank.from_teacher("bi-encodr", model="x")


def test_an_embedding_model_as_reranker_says_bi_encoder(tiny_st_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        RagdistillRerank.from_artifact(tiny_st_path)
    assert str(exc.value).startswith(
        f"{tiny_st_path} holds an embedder: build a reranker on it with "
        f"RagdistillRerank.from_teacher('bi-encoder', model='{tiny_st_path}')"
    )
    assert "holds an embedder, not a reranker" in str(exc.value.__cause__)  # the core's


def test_a_causal_lm_as_query_transformer_says_hf_llm(tiny_artifacts: dict[str, Path]) -> None:
    source = tiny_artifacts["generator"]
    with pytest.raises(ConfigError, match=r"holds a generator: build a query transformer") as exc:
        RagdistillQueryTransform.from_artifact(source)
    assert f"RagdistillQueryTransform.from_teacher('hf-llm', model='{source}')" in str(exc.value)


def test_a_mismatch_with_no_kind_lists_them_all(tiny_artifacts: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="holds a reranker, not an embedder") as exc:
        RagdistillEmbedding.from_artifact(tiny_artifacts["reranker"])
    message = str(exc.value)
    assert "RagdistillEmbedding.from_teacher(KIND" in message and "sentence-transformers" in message
    assert "it loads with RagdistillRerank.from_artifact(" in message


def test_another_error_is_left_as_it_is(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither a ragdistill artifact nor a model folder"):
        RagdistillRerank.from_artifact(tmp_path)


def test_a_component_of_another_stage_names_the_kind(tiny_embedder: Any) -> None:
    with pytest.raises(TypeError, match=r"must be a ragdistill Reranker") as exc:
        RagdistillRerank(tiny_embedder)
    assert "RagdistillRerank.from_teacher('bi-encoder', model=" in str(exc.value)


@pytest.mark.slow
def test_the_packaged_models_by_name() -> None:
    """The messages of the issue, on the models ragdistill provisions."""
    with pytest.raises(ConfigError) as exc:
        RagdistillRerank.from_artifact("all-mpnet-base-v2")
    assert str(exc.value).startswith(
        "all-mpnet-base-v2 holds an embedder: build a reranker on it with "
        "RagdistillRerank.from_teacher('bi-encoder', model='all-mpnet-base-v2')"
    )
    with pytest.raises(ConfigError, match="from_teacher\\('hf-llm'"):
        RagdistillQueryTransform.from_artifact("SmolLM2-135M-Instruct")
    rerank = RagdistillRerank.from_teacher("bi-encoder", model="all-MiniLM-L6-v2", top_n=2)
    assert rerank.model == "all-MiniLM-L6-v2"
    assert (
        rerank.postprocess_nodes(_nodes(), query_str="capital of France")[0].node.text == (TEXTS[0])
    )
