"""Adapters survive ``copy.deepcopy``, ``pickle`` (in this process and another) and
LangChain's ``dumpd``/``load``: a described component is rebuilt from its description."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.load import dumpd, dumps, load, loads

from langchain_ragdistill import (
    ChatRagdistill,
    RagdistillEmbeddings,
    RagdistillHyDE,
    RagdistillQueryExpander,
    RagdistillQueryRewriter,
    RagdistillRerank,
    refuse_widening_options,
)
from ragdistill.errors import ConfigError

DOCS = [Document(page_content=t) for t in ("Paris is in France.", "Rivers flow to the sea.")]
LOAD = {"valid_namespaces": ["langchain_ragdistill"], "init_validator": refuse_widening_options}


def _output(adapter: Any) -> Any:
    """What the adapter computes on a fixed input (equal for equal components)."""
    if isinstance(adapter, RagdistillEmbeddings):
        return adapter.embed_query("capital of France")
    if isinstance(adapter, RagdistillRerank):
        return [d.metadata["relevance_score"] for d in adapter.compress_documents(DOCS, "France")]
    if isinstance(adapter, ChatRagdistill):
        return adapter.invoke("capital of France?").content
    return adapter.invoke("capital of France?")


@pytest.fixture(scope="module")
def described(
    tiny_artifacts: dict[str, Path], tiny_st_path: Path, tiny_lm_path: Path
) -> dict[str, Any]:
    """One adapter of each stage from an artifact, and two from teacher kinds."""
    return {
        "embedder": RagdistillEmbeddings.from_artifact(tiny_artifacts["embedder"]),
        "reranker": RagdistillRerank.from_artifact(tiny_artifacts["reranker"], top_n=1),
        "query": RagdistillQueryRewriter.from_artifact(tiny_artifacts["query_transformer"]),
        "generator": ChatRagdistill.from_artifact(tiny_artifacts["generator"], max_tokens=3),
        "bi-encoder": RagdistillRerank.from_teacher("bi-encoder", model=str(tiny_st_path)),
        "hf-llm": RagdistillQueryExpander.from_teacher(
            "hf-llm", model=str(tiny_lm_path), task="expand", max_new_tokens=4, num_queries=2
        ),
    }


@pytest.mark.parametrize("name", ["embedder", "reranker", "query", "generator", "bi-encoder", "hf-llm"])  # fmt: skip
@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copy_rebuilds_its_component_on_first_use(
    described: dict[str, Any], name: str, how: str
) -> None:
    adapter = described[name]
    expected = _output(adapter)  # the original's component is loaded
    twin = copy.deepcopy(adapter) if how == "deepcopy" else pickle.loads(pickle.dumps(adapter))
    assert "component" not in twin.__dict__  # nothing loaded yet
    assert twin.model_dump() == adapter.model_dump()
    assert _output(twin) == expected
    assert twin.component is not adapter.component
    assert type(twin.component) is type(adapter.component)


def test_a_component_built_in_code_is_copied_as_it_is(hashing_embedder: Any) -> None:
    embeddings = RagdistillEmbeddings(component=hashing_embedder)
    for twin in (copy.deepcopy(embeddings), pickle.loads(pickle.dumps(embeddings))):
        assert twin.embed_query("paris") == embeddings.embed_query("paris")
        assert twin.component is not hashing_embedder


def test_a_loaded_component_built_in_code_is_copied_and_reloads(tiny_generator: Any) -> None:
    chat = ChatRagdistill(component=tiny_generator)
    first = chat.invoke("hi").content  # its model is loaded, with its locks
    for clone in (pickle.loads(pickle.dumps(chat)), copy.deepcopy(chat)):
        assert clone.invoke("hi").content == first


def test_one_that_cannot_be_copied_says_how_to_build_a_copyable_one(echo_generator: Any) -> None:
    echo_generator.guard = threading.Lock()  # state of its own that cannot be pickled
    chat = ChatRagdistill(component=echo_generator)
    for action, call in (("pickled", pickle.dumps), ("copied", copy.deepcopy)):
        with pytest.raises(TypeError, match=rf"cannot be {action} .*ChatRagdistill.from_teacher"):
            call(chat)


def test_an_unpickled_adapter_works_in_another_process(
    described: dict[str, Any], tmp_path: Path
) -> None:
    adapter = described["embedder"]
    (tmp_path / "adapter.pkl").write_bytes(pickle.dumps(adapter))
    script = (
        "import pickle, sys\n"
        "adapter = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "print(repr(adapter.embed_query('capital of France')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "adapter.pkl")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert eval(out.stdout) == pytest.approx(adapter.embed_query("capital of France"))


@pytest.mark.parametrize("name", ["query", "generator", "hf-llm"])
def test_dumpd_and_load_rebuild_a_described_adapter(described: dict[str, Any], name: str) -> None:
    adapter = described[name]
    data = dumpd(adapter)
    assert data["type"] == "constructor" and data["id"][0] == "langchain_ragdistill"
    assert "component" not in data["kwargs"]
    again = load(data, allowed_objects=[type(adapter)], **LOAD)
    assert type(again) is type(adapter) and again.model_dump() == adapter.model_dump()
    assert _output(again) == _output(adapter)
    from_text = loads(dumps(adapter), allowed_objects=[type(adapter)], **LOAD)
    assert from_text.model_dump() == adapter.model_dump()


def test_a_named_runtime_is_serialised_with_its_options(
    tiny_artifacts: dict[str, Path], recording_runtime: Any
) -> None:
    chat = ChatRagdistill.from_artifact(
        tiny_artifacts["generator"], runtime="recording", runtime_options={"tag": "lc"}
    )
    data = dumpd(chat)
    assert data["kwargs"]["runtime"] == "recording"
    again = load(data, allowed_objects=[ChatRagdistill], **LOAD)
    assert again.runtime == "recording" and recording_runtime.calls[-1][2] == "lc"


def test_a_hyde_runnable_round_trips(tiny_query_artifacts: dict[str, Path]) -> None:
    hyde = RagdistillHyDE.from_artifact(tiny_query_artifacts["hyde"])
    again = load(dumpd(hyde), allowed_objects=[RagdistillHyDE], **LOAD)
    assert again.invoke("What is RAG?") == hyde.invoke("What is RAG?")


def test_a_component_built_in_code_is_not_serialisable(echo_generator: Any) -> None:
    data = dumpd(ChatRagdistill(component=echo_generator))
    assert data["type"] == "not_implemented"
    with pytest.raises(NotImplementedError):
        load(data, allowed_objects=[ChatRagdistill], **LOAD)


@pytest.mark.parametrize(
    ("kwargs", "refused"),
    [
        ({"model": "m", "load_options": {"trust_remote_code": True}}, "trust_remote_code"),
        ({"model": "m", "load_options": {"allow_network": True}}, "allow_network"),
        ({"model": "m", "load_options": {"x": [{"hf_token": "t"}]}}, "hf_token"),
        ({"teacher": "openai", "model": "gpt-4o-mini"}, "teacher 'openai'"),
    ],
)
def test_a_payload_may_not_widen_the_load(kwargs: dict[str, Any], refused: str) -> None:
    data = {"lc": 1, "type": "constructor", "kwargs": kwargs,
            "id": ["langchain_ragdistill", "chat_models", "ChatRagdistill"]}  # fmt: skip
    if "openai" in str(kwargs):
        pytest.importorskip("ragdistill_openai")
    with pytest.raises(ConfigError, match=refused):
        load(data, allowed_objects=[ChatRagdistill], **LOAD)
