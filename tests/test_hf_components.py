"""The built-in Hugging Face components, run through the stage contract suites on tiny models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ragdistill import hf
from ragdistill.contracts import request
from ragdistill.errors import ConfigError, RagdistillError
from ragdistill.plugins import get_plugin_manager
from ragdistill.registry import build_registry
from ragdistill.stages.embedder import components as embedders
from ragdistill.stages.reranker import components as rerankers
from ragdistill.stages.reranker import llm_judge
from ragdistill.testing import tiny
from ragdistill.testing.contracts import (
    EmbedderContract,
    GeneratorContract,
    QueryTransformerContract,
    RerankerContract,
)

# --- every component through its contract suite ---------------------------------------


class TestSentenceTransformerEmbedder(EmbedderContract):
    normalized = True

    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, tiny_st_path: Path) -> embedders.SentenceTransformerEmbedder:
        return embedders.SentenceTransformerEmbedder(str(tiny_st_path), query_prefix="query: ")


class TestHFEncoderEmbedder(EmbedderContract):
    normalized = True

    @pytest.fixture(scope="class", params=["mean", "last"])
    @classmethod
    def component(
        cls, request: pytest.FixtureRequest, tiny_st_path: Path
    ) -> embedders.HFEncoderEmbedder:
        return embedders.HFEncoderEmbedder(str(tiny_st_path), pooling=request.param, max_length=64)


class TestCrossEncoderReranker(RerankerContract):
    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, tiny_cross_encoder_path: Path) -> rerankers.CrossEncoderReranker:
        return rerankers.CrossEncoderReranker(str(tiny_cross_encoder_path), batch_size=4)


class TestBiEncoderReranker(RerankerContract):
    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, tiny_st_path: Path) -> rerankers.BiEncoderReranker:
        return rerankers.BiEncoderReranker(str(tiny_st_path))


class TestLLMJudgeReranker(RerankerContract):
    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, tiny_causal_lm_path: Path) -> llm_judge.LLMJudgeReranker:
        return llm_judge.LLMJudgeReranker(str(tiny_causal_lm_path), max_length=256)


class TestCausalLMGenerator(GeneratorContract):
    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, tiny_causal_lm_path: Path) -> hf.CausalLMGenerator:
        return hf.CausalLMGenerator(str(tiny_causal_lm_path), max_context=256)


class TestLLMQueryTransformer(QueryTransformerContract):
    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, tiny_causal_lm_path: Path) -> hf.LLMQueryTransformer:
        return hf.LLMQueryTransformer(str(tiny_causal_lm_path), max_new_tokens=12)


class TestSeq2SeqQueryTransformer(QueryTransformerContract):
    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, tiny_seq2seq_path: Path) -> hf.Seq2SeqQueryTransformer:
        return hf.Seq2SeqQueryTransformer(str(tiny_seq2seq_path), max_new_tokens=8, num_beams=2)


# --- options, registry, errors ---------------------------------------------------------


def test_from_options_names_a_typo() -> None:
    with pytest.raises(
        ConfigError, match=r"teacher\.normalise: unknown key; did you mean 'normalize'"
    ):
        embedders.SentenceTransformerEmbedder.from_options(
            {"model": "m", "normalise": False}, where="teacher"
        )


@pytest.mark.parametrize(
    ("cls", "options", "match"),
    [
        (embedders.HFEncoderEmbedder, {"model": "m", "pooling": "avg"}, r"teacher\.pooling"),
        (
            rerankers.CrossEncoderReranker,
            {"model": "m", "max_length": 0},
            "max_length must be >= 1",
        ),
        (llm_judge.LLMJudgeReranker, {"model": "m", "prompt_template": "{query}"}, r"\{document\}"),
        (
            llm_judge.LLMJudgeReranker,
            {"model": "m", "prompt_template": "{query}{document}{x}"},
            "x",
        ),
        (hf.LLMQueryTransformer, {"model": "m", "expand_prompt": "{n} {nope}"}, "nope"),
        (hf.CausalLMGenerator, {"model": ""}, "model must be a non-empty"),
        (hf.CausalLMGenerator, {}, r"teacher\.model: required key is missing"),
    ],
)
def test_from_options_rejects_bad_values(cls: type, options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        cls.from_options(options, where="teacher")


def test_from_options_records_options_and_model(tiny_st_path: Path) -> None:
    embedder = embedders.SentenceTransformerEmbedder.from_options(
        {"model": str(tiny_st_path), "batch_size": 4}, where="teacher"
    )
    described = embedder.describe()
    assert described["model"] == str(tiny_st_path)
    assert described["stage"] == "embedder"
    assert described["options"] == {"model": str(tiny_st_path), "batch_size": 4}


def test_construction_loads_nothing() -> None:
    generator = hf.CausalLMGenerator("no/such-model")
    assert not generator._lm.loaded
    assert generator.describe()["model"] == "no/such-model"


def test_missing_model_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(RagdistillError, match="no-such-model"):
        rerankers.CrossEncoderReranker(missing).score("q", ["d"])


@pytest.mark.parametrize(
    ("stage", "name", "cls"),
    [
        ("embedder", "sentence-transformers", embedders.SentenceTransformerEmbedder),
        ("embedder", "hf-encoder", embedders.HFEncoderEmbedder),
        ("reranker", "cross-encoder", rerankers.CrossEncoderReranker),
        ("reranker", "bi-encoder", rerankers.BiEncoderReranker),
        ("reranker", "llm-judge", llm_judge.LLMJudgeReranker),
        ("generator", "hf-causal-lm", hf.CausalLMGenerator),
        ("query_transformer", "hf-llm", hf.LLMQueryTransformer),
        ("query_transformer", "hf-seq2seq", hf.Seq2SeqQueryTransformer),
    ],
)
def test_registered_as_teachers(stage: str, name: str, cls: type) -> None:
    registry = build_registry(get_plugin_manager(entry_points=False), kinds=["teacher"])
    assert registry.teacher(stage, name) is cls  # type: ignore[arg-type]


def test_importing_hf_does_not_import_torch() -> None:
    code = (
        "import sys, ragdistill.hf, ragdistill.default_plugins.hf_components; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- behaviour beyond the contract -----------------------------------------------------


def test_parse_queries_cleans_numbering_and_duplicates() -> None:
    reply = 'Here are 3 queries:\n1. capital of France\n2) Paris facts\n- capital of france\n* "french capital"\n'
    assert hf.parse_queries(reply, 3) == ["capital of France", "Paris facts", "french capital"]
    assert hf.parse_queries(reply, 1) == ["capital of France"]
    assert hf.parse_queries("\n\n", 2) == []


def test_pooling_ignores_padding() -> None:
    import torch

    from ragdistill.stages.embedder.components import pool

    hidden = torch.tensor([[[1.0], [3.0], [100.0]], [[-100.0], [2.0], [4.0]]])
    mask = torch.tensor([[1, 1, 0], [0, 1, 1]])  # right-padded row, left-padded row
    assert pool(hidden, mask, "mean").flatten().tolist() == [2.0, 3.0]
    assert pool(hidden, mask, "max").flatten().tolist() == [3.0, 4.0]
    assert pool(hidden, mask, "last").flatten().tolist() == [3.0, 4.0]
    assert pool(hidden, mask, "cls").flatten().tolist() == [1.0, -100.0]


def test_query_prefix_changes_only_queries(tiny_st_path: Path) -> None:
    plain = embedders.SentenceTransformerEmbedder(str(tiny_st_path))
    prefixed = embedders.SentenceTransformerEmbedder(str(tiny_st_path), query_prefix="query: ")
    np.testing.assert_allclose(prefixed.embed("dogs"), plain.embed("dogs"), atol=1e-6)
    assert not np.allclose(prefixed.embed_query("dogs"), plain.embed_query("dogs"))


def test_generator_usage_and_length(tiny_causal_lm_path: Path) -> None:
    generator = hf.CausalLMGenerator(str(tiny_causal_lm_path), max_new_tokens=3)
    gen = generator.generate("hello", max_new_tokens=50)  # the component's cap wins
    assert gen.usage["completion_tokens"] <= 3
    assert gen.usage["total_tokens"] == gen.usage["prompt_tokens"] + gen.usage["completion_tokens"]
    if gen.usage["completion_tokens"] == 3:
        assert gen.finish_reason == "length"


def test_generator_renders_chat_template(tiny_causal_lm_path: Path) -> None:
    generator = hf.CausalLMGenerator(str(tiny_causal_lm_path), system_prompt="be brief")
    prompt = generator.prompt(request("hi"))
    assert prompt == "<s><|system|>\nbe brief</s>\n<|user|>\nhi</s>\n<|assistant|>\n"


# --- the tiny model factory ------------------------------------------------------------


def test_tiny_models_load_in_their_own_libraries(
    tiny_st_path: Path, tiny_cross_encoder_path: Path
) -> None:
    from sentence_transformers import CrossEncoder, SentenceTransformer

    assert SentenceTransformer(str(tiny_st_path), device="cpu").encode(["hi"]).shape == (1, 32)
    assert CrossEncoder(str(tiny_cross_encoder_path), device="cpu").predict([("q", "d")]).shape == (
        1,
    )


def test_tiny_builds_are_cached_and_deterministic(
    tmp_path: Path, tiny_causal_lm_path: Path
) -> None:
    again = tiny.tiny_causal_lm(tmp_path / "lm")
    weights = (again / "model.safetensors").read_bytes()
    assert weights == (tiny_causal_lm_path / "model.safetensors").read_bytes()
    stamp = (again / "model.safetensors").stat().st_mtime_ns
    assert tiny.tiny_causal_lm(tmp_path / "lm") == again
    assert (again / "model.safetensors").stat().st_mtime_ns == stamp  # not rebuilt


def test_tiny_sentence_transformer_dense_head(tmp_path: Path) -> None:
    path = tiny.tiny_sentence_transformer(tmp_path / "st", dim_out=16)
    assert embedders.SentenceTransformerEmbedder(str(path)).dimension == 16


def test_tiny_tokenizer_round_trip(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny.tiny_tokenizer(tmp_path / "tok"))
    ids = tokenizer("Paris is the capital of France")["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == "paris is the capital of france"
