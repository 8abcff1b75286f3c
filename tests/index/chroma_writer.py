"""Writer processes for the index tests, and the checks run after them.

``python chroma_writer.py WRITER COUNT FOLDER`` (embedded) or ``... WRITER COUNT HOST PORT``
(a Chroma server) adds passages ``w<WRITER>-0`` ... to the collection ``shared`` in batches
of 10, so that the batches of writers started together interleave. With ``--barrier DIR`` it
writes ``DIR/ready-<WRITER>`` once imported and waits for ``DIR/go`` before opening the
index: the writers then open it at the same moment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from index_embedders import SeededEmbedder

from ragdistill.datasets import Passage
from ragdistill.index import ChromaIndex

COLLECTION = "shared"
SCRIPT = Path(__file__)
WRITERS, EACH = 3, 150


def passages(writer: int, count: int) -> list[Passage]:
    return [
        Passage(f"w{writer}-{i}", f"w{writer}-{i}", f"writer {writer} passage {i}")
        for i in range(count)
    ]


def create_collection(client: Any, name: str = COLLECTION, *, sync_threshold: int) -> None:
    """Create ``name`` as ChromaIndex would, but rewriting its HNSW files every
    ``sync_threshold`` records (Chroma's default is 1,000): small tests cross it often."""
    client.create_collection(
        name,
        configuration={"hnsw": {"space": "cosine", "sync_threshold": sync_threshold}},
        embedding_function=None,
    )


def run_writers(*where: str, writers: int = WRITERS, each: int = EACH) -> None:
    """Run writer processes that open the index together; fail on any error."""
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    with tempfile.TemporaryDirectory() as barrier:
        procs = [
            subprocess.Popen(
                [sys.executable, str(SCRIPT), str(w), str(each), *where, "--barrier", barrier],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
            for w in range(writers)
        ]
        deadline = time.monotonic() + 120
        while len(os.listdir(barrier)) < writers and time.monotonic() < deadline:
            if any(proc.poll() is not None for proc in procs):
                break
            time.sleep(0.02)
        Path(barrier, "go").touch()
        outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-3000:]


def assert_each_found_by_its_own_vector(
    index: ChromaIndex, *, writers: int = WRITERS, each: int = EACH
) -> None:
    """Every passage of every writer is in ``index``: its own vector finds it first."""
    expected = [p for w in range(writers) for p in passages(w, each)]
    assert len(index) == len(expected)
    hits = index.search_passages([p.text for p in expected], k=1)
    lost = [p.id for p, hit in zip(expected, hits) if [pid for pid, _ in hit] != [p.id]]
    assert lost == []


def main(argv: list[str]) -> None:
    if "--barrier" in argv:
        at = argv.index("--barrier")
        barrier = Path(argv[at + 1])
        argv = argv[:at] + argv[at + 2 :]
        Path(barrier, f"ready-{argv[0]}").touch()
        while not Path(barrier, "go").exists():
            time.sleep(0.005)
    writer, count = int(argv[0]), int(argv[1])
    where: dict[str, Any] = (
        {"path": argv[2]} if len(argv) == 3 else {"host": argv[2], "port": int(argv[3])}
    )
    index = ChromaIndex(SeededEmbedder(), collection=COLLECTION, show_progress=False, **where)
    index.add(passages(writer, count), batch_size=10)


if __name__ == "__main__":
    main(sys.argv[1:])
