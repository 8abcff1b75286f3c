"""Every adapter is built from a registered teacher kind (``from_teacher``) or from an
artifact (``from_artifact``); a load that does not fit says which constructor would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from langchain_ragdistill import (
    ChatRagdistill,
    RagdistillEmbeddings,
    RagdistillHyDE,
    RagdistillQueryExpander,
    RagdistillQueryRewriter,
    RagdistillRerank,
)
from ragdistill.errors import ConfigError, UnknownNameError
from ragdistill.registry import default_registry

#: A registered teacher kind of each adapter's stage, and what it is built on.
TEACHERS: dict[type[Any], tuple[str, str, dict[str, Any]]] = {
    RagdistillEmbeddings: ("sentence-transformers", "st", {}),
    RagdistillRerank: ("bi-encoder", "st", {}),
    RagdistillQueryRewriter: ("hf-seq2seq", "t5", {"num_beams": 1, "max_new_tokens": 4}),
    ChatRagdistill: ("hf-causal-lm", "lm", {"max_new_tokens": 4}),
}


@pytest.fixture(scope="module")
def models(tiny_st_path: Path, tiny_t5_path: Path, tiny_lm_path: Path) -> dict[str, str]:
    return {"st": str(tiny_st_path), "t5": str(tiny_t5_path), "lm": str(tiny_lm_path)}


@pytest.mark.parametrize("adapter", list(TEACHERS), ids=lambda c: c.__name__)
def test_from_teacher_builds_the_registered_kind(
    adapter: type[Any], models: dict[str, str]
) -> None:
    kind, model, options = TEACHERS[adapter]
    built = adapter.from_teacher(kind, model=models[model], **options)
    expected = default_registry().teacher(adapter.stage, kind)
    assert type(built.component) is expected
    assert built.component.options == {"model": models[model], **options}
    assert (built.teacher, built.model, built.load_options) == (kind, models[model], options)
    assert built.manifest is None


def test_from_teacher_separates_adapter_fields_from_teacher_options(models: dict[str, str]) -> None:
    rerank = RagdistillRerank.from_teacher(
        "bi-encoder", model=models["st"], top_n=1, batch_size=4, load_options={"device": "cpu"}
    )
    assert rerank.top_n == 1  # the adapter's field
    assert rerank.component.options == {"model": models["st"], "batch_size": 4, "device": "cpu"}
    docs = rerank.compress_documents(_docs("Paris is in France.", "Rivers flow."), "France")
    assert len(docs) == 1
    chat = ChatRagdistill.from_teacher("hf-causal-lm", model=models["lm"], max_tokens=3, seed=1)
    assert chat.max_tokens == 3 and chat.component.options == {"model": models["lm"], "seed": 1}


def test_teacher_field_builds_like_from_teacher(models: dict[str, str]) -> None:
    expander = RagdistillQueryExpander(
        teacher="hf-llm",
        model=models["lm"],
        load_options={"task": "expand", "max_new_tokens": 4},
        num_queries=2,
    )
    assert expander.component.task == "expand" and 1 <= len(expander.invoke("paris")) <= 2
    hyde = RagdistillHyDE.from_teacher("hf-llm", model=models["lm"], task="hyde", max_new_tokens=4)
    assert isinstance(hyde.invoke("What is the capital of France?"), str)


def test_a_misspelt_teacher_option_lists_the_valid_ones(models: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"from_teacher\('bi-encoder'\)\.batchsize: .*batch_size"):
        RagdistillRerank.from_teacher("bi-encoder", model=models["st"], batchsize=4)


def test_another_stages_kind_names_the_adapter_that_takes_it() -> None:
    with pytest.raises(UnknownNameError) as info:
        RagdistillRerank.from_teacher("sentence-transformers", model="m")
    message = str(info.value)
    assert "no reranker teacher named 'sentence-transformers'" in message
    assert "RagdistillEmbeddings.from_teacher('sentence-transformers', ...)" in message


def test_an_embedder_folder_given_to_the_reranker_names_what_works(
    tiny_artifacts: dict[str, Path],
) -> None:
    source = tiny_artifacts["embedder"]
    with pytest.raises(ConfigError) as info:
        RagdistillRerank.from_artifact(source)
    message = str(info.value)
    assert (
        f"{source} holds an embedder, not a reranker (its loader: 'sentence-transformers')"
        in message
    )
    assert f"RagdistillEmbeddings.from_artifact({str(source)!r})" in message
    assert f"RagdistillRerank.from_teacher('bi-encoder', model={str(source)!r})" in message
    # ...and that constructor does work on it.
    assert RagdistillRerank.from_teacher("bi-encoder", model=str(source)).component is not None


def test_a_generator_folder_given_to_a_query_adapter_names_what_works(
    tiny_lm_path: Path,
) -> None:
    with pytest.raises(ConfigError) as info:
        RagdistillQueryExpander.from_artifact(tiny_lm_path)
    message = str(info.value)
    assert "holds a generator, not a query_transformer (its loader: 'hf-causal-lm')" in message
    assert f"ChatRagdistill.from_artifact({str(tiny_lm_path)!r})" in message
    assert f"RagdistillQueryExpander.from_teacher('hf-llm', model={str(tiny_lm_path)!r})" in message


def test_the_model_keyword_gives_the_same_hint(tiny_artifacts: dict[str, Path]) -> None:
    with pytest.raises(ValidationError, match=r"ChatRagdistill\.from_artifact"):
        RagdistillEmbeddings(model=str(tiny_artifacts["generator"]))


def test_a_folder_of_the_right_stage_keeps_the_original_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        RagdistillEmbeddings.from_artifact(tmp_path)


def test_built_in_code_is_named_by_its_model(tiny_st_path: Path) -> None:
    from ragdistill.stages.reranker.components import BiEncoderReranker

    rerank = RagdistillRerank(component=BiEncoderReranker(str(tiny_st_path)))
    assert rerank.model == str(tiny_st_path) and rerank.teacher is None


def _docs(*texts: str) -> list[Any]:
    from langchain_core.documents import Document

    return [Document(page_content=t) for t in texts]
