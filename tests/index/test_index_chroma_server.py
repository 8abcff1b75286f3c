"""ChromaIndex against a real Chroma server (the multi-machine option), started here."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from chroma_writer import (
    COLLECTION,
    assert_each_found_by_its_own_vector,
    create_collection,
    run_writers,
)
from index_embedders import CountingEmbedder, HashingEmbedder, SeededEmbedder

from ragdistill.datasets import Passage
from ragdistill.index import ChromaIndex, IndexMismatchError

pytest.importorskip("chromadb")

PASSAGES = [
    Passage(f"d{i}", f"d{i}", f"document {i} about topic{i % 3} word{i}") for i in range(12)
]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """``chroma run`` (shipped in the chromadb wheel) on a free loopback port."""
    binary = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [binary, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the Chroma server did not start") from None
                time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_index_and_search_through_a_server(chroma_server: tuple[str, int]) -> None:
    host, port = chroma_server
    counting = CountingEmbedder(HashingEmbedder())
    index = ChromaIndex(counting, host=host, port=port, collection="served", show_progress=False)
    assert index.add(PASSAGES).embedded == 12
    assert index.search(["document 5 word5"], k=3)[0][0][0] == "d5"
    # a second client (another machine, say) sees the same collection: nothing re-embedded
    again = ChromaIndex(counting, host=host, port=port, collection="served", show_progress=False)
    assert len(again) == 12
    assert again.add(PASSAGES).unchanged == 12


def test_server_collection_of_another_embedder_is_refused(chroma_server: tuple[str, int]) -> None:
    host, port = chroma_server
    ChromaIndex(HashingEmbedder(), host=host, port=port, collection="owned").add(PASSAGES[:3])
    with pytest.raises(IndexMismatchError, match="another embedder"):
        ChromaIndex(HashingEmbedder(salt="x"), host=host, port=port, collection="owned")


def test_several_writer_processes_through_a_server_lose_nothing(
    chroma_server: tuple[str, int],
) -> None:
    import chromadb

    host, port = chroma_server
    client = chromadb.HttpClient(
        host=host, port=port, settings=chromadb.Settings(anonymized_telemetry=False)
    )
    create_collection(client, sync_threshold=100)  # as in the embedded test
    run_writers(host, str(port))
    index = ChromaIndex(
        SeededEmbedder(), host=host, port=port, collection=COLLECTION, show_progress=False
    )
    assert_each_found_by_its_own_vector(index)
