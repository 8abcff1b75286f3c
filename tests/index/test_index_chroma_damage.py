"""A damaged embedded Chroma folder is refused with a clear error, never a crash or a
silent partial search; a healthy one, whatever was written to it, passes the check."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from chroma_writer import COLLECTION, create_collection, passages
from index_embedders import SeededEmbedder

from ragdistill.datasets import Passage
from ragdistill.index import ChromaIndex, IndexDamagedError
from ragdistill.index.integrity import check_collection

chromadb = pytest.importorskip("chromadb")

COUNT = 250  # the HNSW files are rewritten every 100 records: 200 in them, 50 in the log


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose collection holds COUNT passages, its HNSW files written twice."""
    folder = tmp_path_factory.mktemp("pristine") / "db"
    client = chromadb.PersistentClient(
        path=str(folder), settings=chromadb.Settings(anonymized_telemetry=False)
    )
    create_collection(client, sync_threshold=100)
    client.close()
    index = ChromaIndex(SeededEmbedder(), collection=COLLECTION, path=folder, show_progress=False)
    index.add(passages(0, COUNT), batch_size=50)
    return folder


def ids_of(folder: Path) -> tuple[str, str]:
    """The ids of the folder's only collection and of its HNSW segment."""
    with closing(sqlite3.connect(folder / "chroma.sqlite3")) as conn:
        return conn.execute(  # type: ignore[no-any-return]
            "SELECT collection, id FROM segments WHERE scope = 'VECTOR'"
        ).fetchone()


def copy_of(pristine: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the pristine folder, and its collection's HNSW segment folder in it."""
    folder = tmp_path / "db"
    shutil.copytree(pristine, folder)
    return folder, folder / ids_of(folder)[1]


def open_index(folder: Path, **options: object) -> ChromaIndex:
    return ChromaIndex(
        SeededEmbedder(), collection=COLLECTION, path=folder, show_progress=False, **options
    )


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("index_metadata.pickle", f"{COUNT} records but its HNSW index would hold 50 vectors"),
        ("", f"{COUNT} records but its HNSW index would hold 50 vectors"),  # the whole folder
        ("header.bin", "header.bin missing"),
        ("data_level0.bin", "data_level0.bin missing"),
        ("link_lists.bin", "link_lists.bin missing"),
    ],
)
def test_a_missing_segment_file_is_refused(
    pristine: Path, tmp_path: Path, remove: str, message: str
) -> None:
    folder, segment = copy_of(pristine, tmp_path)
    if remove:
        (segment / remove).unlink()
    else:
        shutil.rmtree(segment)
    with pytest.raises(IndexDamagedError) as caught:
        open_index(folder)
    text = str(caught.value)
    assert message in text and str(folder) in text and COLLECTION in text
    assert "rebuild=True" in text and "--rebuild" in text  # says how to rebuild it
    rebuilt = open_index(folder, rebuild=True)
    assert len(rebuilt) == 0
    rebuilt.add(passages(0, 20))
    assert rebuilt.search_passages(["writer 0 passage 7"], k=1)[0][0][0] == "w0-7"


def _garbage_level0(segment: Path) -> None:
    path = segment / "data_level0.bin"
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))


def _neighbour_out_of_range(segment: Path) -> None:
    # Element 0's level-0 list: its count (low 16 bits), then its neighbour ids.
    with open(segment / "data_level0.bin", "r+b") as fh:
        fh.seek(4)
        fh.write((10_000_000).to_bytes(4, "little"))


def _garbage_link_lists(segment: Path) -> None:
    path = segment / "link_lists.bin"
    path.write_bytes(np.random.default_rng(1).bytes(path.stat().st_size))


# Run in a child process: on a segfault the test fails instead of pytest dying.
OPEN_AND_SEARCH = """
import sys
from index_embedders import SeededEmbedder
from ragdistill.index import ChromaIndex, IndexDamagedError
try:
    index = ChromaIndex(SeededEmbedder(), collection=sys.argv[2], path=sys.argv[1],
                        show_progress=False)
    print("searched", index.search_passages(["writer 0 passage 7"] * 50, k=100)[0][:1])
except IndexDamagedError as exc:
    print("refused:", exc)
"""


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_garbage_level0, "data_level0.bin"),
        (_neighbour_out_of_range, "data_level0.bin: a neighbour id is out of range"),
        (_garbage_link_lists, "link_lists.bin"),
    ],
    ids=["garbage-level0", "neighbour-out-of-range", "garbage-link-lists"],
)
def test_corrupt_segment_files_are_refused_not_a_crash(
    pristine: Path, tmp_path: Path, damage: object, message: str
) -> None:
    folder, segment = copy_of(pristine, tmp_path)
    damage(segment)  # type: ignore[operator]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    run = subprocess.run(
        [sys.executable, "-c", OPEN_AND_SEARCH, str(folder), COLLECTION],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-2000:]}"
    assert run.stdout.startswith("refused:"), run.stdout
    assert message in run.stdout and str(folder) in run.stdout and "--rebuild" in run.stdout


def test_a_healthy_index_passes_after_updates_and_deletes(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    client = chromadb.PersistentClient(
        path=str(folder), settings=chromadb.Settings(anonymized_telemetry=False)
    )
    create_collection(client, sync_threshold=30)
    client.close()
    index = open_index(folder)
    corpus = passages(0, 120)
    index.add(corpus, batch_size=25)
    changed = [*corpus[20:100], Passage("w0-5", "w0-5", "a new text for passage five")]
    changed += passages(1, 15)
    stats = index.add(changed, sync=True, batch_size=25)
    assert (stats.deleted, len(index)) == (39, 96)
    assert index.search_passages(["a new text for passage five"], k=1)[0][0][0] == "w0-5"
    # What a new process would load (the HNSW files, rewritten every 30 records, and the
    # log since) agrees with the records.
    check_collection(folder, ids_of(folder)[0], COLLECTION)


class Armed:
    """Unpickling this would run code: it writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, ...]:
        return (exec, (f"open({self.marker!r}, 'w').write('unpickled')",))


def test_a_planted_id_map_is_refused_never_unpickled(pristine: Path, tmp_path: Path) -> None:
    import pickle

    folder, segment = copy_of(pristine, tmp_path)
    marker = tmp_path / "UNPICKLED"
    armed = {"id_to_label": {"w0-0": 1}, "label_to_id": {1: Armed(marker)}}
    (segment / "index_metadata.pickle").write_bytes(pickle.dumps(armed))
    with pytest.raises(IndexDamagedError, match=r"index_metadata\.pickle cannot be read"):
        open_index(folder)
    assert not marker.exists()
