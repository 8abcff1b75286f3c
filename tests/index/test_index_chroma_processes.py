"""Several processes writing one embedded Chroma folder at once lose nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from chroma_writer import (
    COLLECTION,
    assert_each_found_by_its_own_vector,
    create_collection,
    run_writers,
)
from index_embedders import SeededEmbedder

from ragdistill.index import ChromaIndex

chromadb = pytest.importorskip("chromadb")


def new_collection(folder: Path) -> None:
    # Chroma rewrites the HNSW files every 100 records here (1,000 by default), each
    # process from its own copy in memory, which lacks the other writers' last records.
    client = chromadb.PersistentClient(
        path=str(folder), settings=chromadb.Settings(anonymized_telemetry=False)
    )
    create_collection(client, sync_threshold=100)
    client.close()


def test_several_writer_processes_lose_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    new_collection(folder)
    run_writers(str(folder))
    index = ChromaIndex(SeededEmbedder(), collection=COLLECTION, path=folder, show_progress=False)
    assert_each_found_by_its_own_vector(index)


def test_writer_processes_create_a_new_folder_together(tmp_path: Path) -> None:
    # Several first opens of one folder raced in Chroma's migrations.
    folder = tmp_path / "fresh"
    run_writers(str(folder))
    index = ChromaIndex(SeededEmbedder(), collection=COLLECTION, path=folder, show_progress=False)
    assert_each_found_by_its_own_vector(index)


def test_an_open_index_sees_what_other_processes_wrote(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    new_collection(folder)
    reader = ChromaIndex(SeededEmbedder(), collection=COLLECTION, path=folder, show_progress=False)
    assert len(reader) == 0
    run_writers(str(folder))
    assert_each_found_by_its_own_vector(reader)  # its copy in memory was reloaded
