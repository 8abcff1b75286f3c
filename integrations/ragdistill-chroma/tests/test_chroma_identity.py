"""A collection records the model that embedded it and refuses another, even of the
same dimension (Chroma itself compares only the functions' names)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ragdistill.index import ChromaIndex, IndexMismatchError
from ragdistill_chroma import RagdistillEmbeddingFunction

chromadb = pytest.importorskip("chromadb")

DOCS = ["Paris is the capital of France.", "Rivers flow to the sea."]


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny sentence transformer of the same dimension as the tiny artifact, other weights."""
    tiny = pytest.importorskip("ragdistill.testing.tiny")
    folder: Path = tiny.tiny_sentence_transformer(tmp_path_factory.mktemp("other") / "st", layers=1)
    return folder


def client_at(folder: Path) -> Any:
    return chromadb.PersistentClient(
        path=str(folder), settings=chromadb.Settings(anonymized_telemetry=False)
    )


def stored_fingerprint(folder: Path, name: str) -> str:
    """The fingerprint a fresh client reads back, not the one cached in a collection object."""
    config = client_at(folder).get_collection(name).configuration_json
    return str(config["embedding_function"]["config"]["fingerprint"])


def modify_retrying_a_locked_database(collection: Any, ef: Any) -> None:
    # Chroma's Rust SQLite layer has raised "database is locked" from modify() once in CI
    # (no other writer in the test); one retry keeps that flake from hiding a real failure.
    try:
        collection.modify(configuration={"embedding_function": ef})
    except chromadb.errors.InternalError as error:
        if "database is locked" not in str(error):
            raise
        collection.modify(configuration={"embedding_function": ef})


def test_another_model_of_the_same_dimension_is_refused(
    tiny_artifacts: dict[str, Path], other_model: Path, tmp_path: Path
) -> None:
    ef = RagdistillEmbeddingFunction(tiny_artifacts["embedder"])
    other = RagdistillEmbeddingFunction(other_model)
    assert len(other(DOCS)[0]) == len(ef(DOCS)[0]) and other.fingerprint != ef.fingerprint
    client = client_at(tmp_path / "db")
    ef.get_or_create_collection(client, "docs").add(ids=["a", "b"], documents=DOCS)
    assert ef.get_or_create_collection(client, "docs").count() == 2  # the same model reopens it
    with pytest.raises(IndexMismatchError, match=r"'docs' was embedded by another model"):
        other.get_or_create_collection(client, "docs")
    # Chroma opens it for any function named "ragdistill": check_collection tells them apart.
    opened = client.get_collection("docs", embedding_function=other)
    with pytest.raises(IndexMismatchError, match="not comparable"):
        other.check_collection(opened)
    ef.check_collection(client.get_collection("docs", embedding_function=ef))


def test_a_collection_created_through_chroma_records_the_model(
    tiny_artifacts: dict[str, Path], other_model: Path, tmp_path: Path
) -> None:
    ef = RagdistillEmbeddingFunction(tiny_artifacts["embedder"])
    other = RagdistillEmbeddingFunction(other_model)
    client = client_at(tmp_path / "db")
    plain = client.create_collection("plain", embedding_function=ef)
    config = plain.configuration_json["embedding_function"]["config"]
    assert (config["fingerprint"], config["dimension"]) == (ef.fingerprint, len(ef(DOCS)[0]))
    with pytest.raises(IndexMismatchError):
        other.get_or_create_collection(client, "plain")
    with pytest.raises(IndexMismatchError, match="another model") as refused:
        modify_retrying_a_locked_database(plain, other)
    # Chroma wrote the other model's record before the refusal; the error says how to undo it.
    assert stored_fingerprint(tmp_path / "db", "plain") == other.fingerprint
    assert "put the record back" in str(refused.value)
    modify_retrying_a_locked_database(plain, ef)
    assert stored_fingerprint(tmp_path / "db", "plain") == ef.fingerprint
    # The core index records the same identity under the same keys.
    index = ChromaIndex(
        ef.component, path=tmp_path / "core", collection="core", show_progress=False
    )
    assert index.fingerprint == ef.fingerprint


def test_a_component_built_in_code_is_recorded_in_the_metadata(
    hashing_embedder: Any, tmp_path: Path
) -> None:
    from ragdistill.index.chroma import FINGERPRINT_KEY

    ef = RagdistillEmbeddingFunction(component=hashing_embedder)
    client = client_at(tmp_path / "db")
    docs = ef.get_or_create_collection(client, "docs", metadata={"owner": "me"})
    assert docs.metadata is not None
    assert docs.metadata["owner"] == "me" and docs.metadata[FINGERPRINT_KEY] == ef.fingerprint
    narrow = RagdistillEmbeddingFunction(component=type(hashing_embedder)(dimension=32))
    with pytest.raises(IndexMismatchError, match="dimension 64"):
        narrow.get_or_create_collection(client, "docs")


# Run by another process, so that this one has not loaded (and cached) the first model.
CREATE = """
import sys
import chromadb
from ragdistill_chroma import RagdistillEmbeddingFunction
client = chromadb.PersistentClient(path=sys.argv[1])
ef = RagdistillEmbeddingFunction(sys.argv[2])
client.create_collection("docs", embedding_function=ef).add(ids=["a", "b"], documents=sys.argv[3:])
"""


def test_a_model_replaced_in_its_folder_is_refused_on_reopen(
    tiny_artifacts: dict[str, Path], other_model: Path, tmp_path: Path
) -> None:
    model = tmp_path / "student"  # retrained into the same folder, say
    shutil.copytree(tiny_artifacts["embedder"], model)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    subprocess.run(
        [sys.executable, "-c", CREATE, str(tmp_path / "db"), str(model), *DOCS],
        check=True,
        env=env,
        timeout=300,
    )
    shutil.rmtree(model)
    shutil.copytree(other_model, model)
    reopened = client_at(tmp_path / "db").get_collection("docs")  # rebuilt from its config
    with pytest.raises(ValueError, match="now loads another model"):
        reopened.query(query_texts=["capital of France"], n_results=1)
