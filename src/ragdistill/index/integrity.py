"""Check an embedded Chroma collection's files before Chroma loads them.

chromadb 1.x keeps a collection's vectors in an HNSW index in ``<folder>/<segment id>/``,
written by Chroma's hnswlib fork (persistence version 1):

* ``header.bin``: 100 bytes of sizes and graph parameters;
* ``data_level0.bin``: a fixed-size row per element: its level-0 neighbour list (a count,
  a deleted mark, ``maxM0`` ids), the vector and its label;
* ``link_lists.bin``: per element, a byte count and then its upper-level neighbour lists;
* ``length.bin``: the vectors' norms (to return them unnormalised);
* ``index_metadata.pickle``: which record id has which label, as a pickle of plain
  dicts (written by Rust's ``serde_pickle``).

These files are rewritten every ``sync_threshold`` (1,000) records; later records wait
in the write-ahead log (``embeddings_queue`` in ``chroma.sqlite3``) and are replayed into
the index when it is loaded. Chroma trusts the files: a neighbour id out of range makes
hnswlib read outside its memory (a segfault), and without the id map it starts an empty
index and replays only the log, so the collection answers from a fraction of its vectors
without a word.

:func:`check_collection` reads them first, with ``struct``, numpy and ``sqlite3`` only (no
Chroma code runs, so nothing can crash; the id map is never unpickled: its opcodes are
walked and only dicts, lists, strings and numbers are built), and raises
:class:`IndexDamagedError` when

* a file is missing, or the header disagrees with itself, the collection's dimension or
  the files' sizes, or a neighbour list is too long or names an element that does not
  exist (what makes hnswlib crash);
* the labels of the live elements are not exactly those of the id map;
* the vectors the index would hold after replaying the log are not as many as the
  collection's records (its SQLite rows after the same replay).

It reads each file once, as Chroma's own load does. Only the layout of chromadb 1.x is
known: under another major version the check is skipped with a warning.
"""

from __future__ import annotations

import functools
import logging
import pickletools
import sqlite3
import struct
from collections.abc import Callable, Container
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ragdistill.errors import RagdistillError

log = logging.getLogger(__name__)

REBUILD_HINT = (
    "rebuild it: ChromaIndex(..., rebuild=True) (`ragdistill ab embedder --rebuild`), or "
    "delete {folder} and every index in it is rebuilt on the next run"
)
_FILES = ("header.bin", "data_level0.bin", "length.bin", "link_lists.bin")
ID_MAP = "index_metadata.pickle"
# version, offsetLevel0, max_elements, cur_element_count, size_data_per_element,
# label_offset, offsetData, maxlevel, enterpoint_node, maxM, maxM0, M, mult, ef_construction
_HEADER = struct.Struct("<iQQQQQQiIQQQdQ")
_VERSION = 1
_ADD, _UPDATE, _UPSERT, _DELETE = 0, 1, 2, 3
_CHUNK_BYTES = 1 << 25  # data_level0.bin is read 32 MiB at a time


class IndexDamagedError(RagdistillError):
    """An embedded Chroma collection's files are missing, inconsistent or corrupt."""


@dataclass(frozen=True)
class _Header:
    version: int
    offset_level0: int
    max_elements: int
    count: int
    row: int
    label_offset: int
    data_offset: int
    max_level: int
    entry: int
    max_m: int
    max_m0: int
    m: int
    mult: float
    ef_construction: int


@dataclass(frozen=True)
class _Facts:
    """What ``chroma.sqlite3`` says about one collection."""

    dimension: int | None
    vector_segment: str
    records: int  # rows of the metadata segment
    vector_seq: int  # last log entry in the vector files
    records_seq: int  # last log entry in the metadata segment
    log: list[tuple[int, int, str]]  # (seq_id, operation, record id), in order
    present: set[str]  # the logged ids that the metadata segment holds


def check_collection(folder: Path, collection_id: str, name: str) -> None:
    """Raise :class:`IndexDamagedError` if the collection's vector files are unusable.

    Call it before Chroma loads the collection's vectors in this process (its first
    count, get or query), with no writer running: the caller holds the folder's lock.
    """
    if not _layout_known():
        return
    database = folder / "chroma.sqlite3"
    if not database.is_file():
        return
    try:
        uri = f"{database.resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
            facts = _read_facts(conn, collection_id)
    except sqlite3.Error as exc:  # a schema this module does not know, a long lock: not damage
        log.warning("cannot check Chroma collection %r in %s: %s", name, folder, exc)
        return
    if facts is None:
        return

    def damaged(problem: str) -> IndexDamagedError:
        return IndexDamagedError(
            f"the Chroma index {name!r} in {folder} is damaged: {problem}; "
            + REBUILD_HINT.format(folder=folder)
        )

    segment = folder / facts.vector_segment
    ids: dict[str, int] = {}
    if (segment / ID_MAP).is_file():
        id_map = _read_id_map(segment / ID_MAP, damaged)
        ids = id_map["id_to_label"]
        if ids:  # only then does Chroma load the four files
            problem = _hnsw_problem(segment, facts.dimension, id_map["label_to_id"])
            if problem:
                raise damaged(f"{problem} (in {segment})")
    vectors = _replay(ids.keys(), len(ids), facts.log, facts.vector_seq)
    records = _replay(facts.present, facts.records, facts.log, facts.records_seq)
    if vectors != records:
        if not segment.is_dir():
            cause = f"its vector folder {segment} is missing"
        elif not ids and facts.vector_seq:
            cause = f"{segment / ID_MAP} is missing or empty"
        else:
            cause = f"the files in {segment} are older or newer than its records"
        raise damaged(
            f"it has {records} records but its HNSW index would hold {vectors} vectors "
            f"({cause}), so searches would miss passages"
        )


@functools.cache
def _layout_known() -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        major = version("chromadb").split(".")[0]
    except PackageNotFoundError:
        return False
    if major != "1":
        log.warning("chromadb %s: its on-disk layout is not checked before loading", major)
    return major == "1"


def _read_facts(conn: sqlite3.Connection, collection_id: str) -> _Facts | None:
    row = conn.execute(
        "SELECT dimension FROM collections WHERE id = ?", (collection_id,)
    ).fetchone()
    if row is None:
        return None
    scopes = dict(
        conn.execute("SELECT scope, id FROM segments WHERE collection = ?", (collection_id,))
    )
    if "VECTOR" not in scopes or "METADATA" not in scopes:
        return None
    seqs = {
        segment: _seq(seq)
        for segment, seq in conn.execute(
            "SELECT segment_id, seq_id FROM max_seq_id WHERE segment_id IN (?, ?)",
            (scopes["VECTOR"], scopes["METADATA"]),
        )
    }
    vector_seq, records_seq = seqs.get(scopes["VECTOR"], 0), seqs.get(scopes["METADATA"], 0)
    entries = conn.execute(
        "SELECT seq_id, operation, id FROM embeddings_queue WHERE topic LIKE ? AND seq_id > ? "
        "ORDER BY seq_id",
        (f"%/{collection_id}", min(vector_seq, records_seq)),
    ).fetchall()
    logged = sorted({entry[2] for entry in entries})
    present: set[str] = set()
    for start in range(0, len(logged), 500):
        chunk = logged[start : start + 500]
        present.update(
            found
            for (found,) in conn.execute(
                "SELECT embedding_id FROM embeddings WHERE segment_id = ? AND embedding_id IN "
                f"({', '.join('?' * len(chunk))})",
                (scopes["METADATA"], *chunk),
            )
        )
    (records,) = conn.execute(
        "SELECT COUNT(*) FROM embeddings WHERE segment_id = ?", (scopes["METADATA"],)
    ).fetchone()
    return _Facts(
        dimension=row[0],
        vector_segment=scopes["VECTOR"],
        records=records,
        vector_seq=vector_seq,
        records_seq=records_seq,
        log=[(_seq(seq), op, rid) for seq, op, rid in entries],
        present=present,
    )


def _seq(value: Any) -> int:
    if isinstance(value, bytes):  # written by chromadb < 0.5 as big-endian bytes
        return int.from_bytes(value, "big")
    return int(value or 0)


def _replay(
    present: Container[str], count: int, entries: list[tuple[int, int, str]], after: int
) -> int:
    """How many records remain once the log entries after ``after`` are applied.

    ``count`` records are stored, among which the logged ids in ``present``; as in Chroma,
    an add or upsert makes an id present, a delete absent, an update changes nothing.
    """
    state: dict[str, bool] = {}
    before: dict[str, bool] = {}
    for seq, op, rid in entries:
        if seq <= after or op not in (_ADD, _UPSERT, _DELETE):
            continue  # an update changes no membership
        if rid not in before:
            before[rid] = state[rid] = rid in present
        state[rid] = op != _DELETE
    return count + sum(state.values()) - sum(before.values())


_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_VALUES = {
    "BININT", "BININT1", "BININT2", "LONG1", "LONG4", "BINFLOAT",
    "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES",
}  # fmt: skip


def _plain_data(blob: bytes) -> Any:
    """What a pickle of dicts, lists, strings and numbers holds, without unpickling it.

    :func:`pickletools.genops` only decodes the opcodes; any opcode that would import,
    call or build an object raises ValueError.
    """
    stack: list[Any] = []
    marks: list[int] = []
    memo: dict[int, Any] = {}
    for op, arg, _ in pickletools.genops(blob):
        name = op.name
        if name in ("PROTO", "FRAME"):
            continue
        if name == "STOP":
            if len(stack) != 1:
                raise ValueError("STOP with a malformed stack")
            return stack[0]
        if name == "MARK":
            marks.append(len(stack))
        elif name in ("EMPTY_DICT", "EMPTY_LIST"):
            stack.append({} if name == "EMPTY_DICT" else [])
        elif name in _CONSTANTS:
            stack.append(_CONSTANTS[name])
        elif name in _VALUES:
            stack.append(arg)
        elif name in ("SETITEM", "SETITEMS", "APPEND", "APPENDS"):
            # the items on top of the stack: since the last mark, or the last one or two
            if name.endswith("S"):
                start = marks.pop()
            else:
                start = len(stack) - (2 if name == "SETITEM" else 1)
            items = stack[start:]
            del stack[start:]
            if name.startswith("SET"):
                stack[-1].update(zip(items[::2], items[1::2]))
            else:
                stack[-1].extend(items)
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("BINPUT", "LONG_BINPUT") and isinstance(arg, int):
            memo[arg] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET") and isinstance(arg, int):
            stack.append(memo[arg])
        else:
            raise ValueError(f"opcode {name} would build more than plain data")
    raise ValueError("no STOP opcode")


def _read_id_map(path: Path, damaged: Callable[[str], IndexDamagedError]) -> dict[str, Any]:
    try:
        data = _plain_data(path.read_bytes())
    except Exception as exc:  # malformed data fails in many ways, all of them damage
        raise damaged(f"{path} cannot be read ({type(exc).__name__}: {exc})") from None
    ok = (
        isinstance(data, dict)
        and isinstance(data.get("id_to_label"), dict)
        and isinstance(data.get("label_to_id"), dict)
        and len(data["id_to_label"]) == len(data["label_to_id"])
    )
    if not ok:
        raise damaged(f"{path} is not a Chroma id map")
    id_map: dict[str, Any] = data
    return id_map


def _hnsw_problem(segment: Path, dimension: int | None, labels: dict[int, str]) -> str | None:
    """What is wrong with the four HNSW files, or None."""
    missing = [name for name in _FILES if not (segment / name).is_file()]
    if missing:
        return f"{', '.join(missing)} missing"
    raw = (segment / "header.bin").read_bytes()
    if len(raw) != _HEADER.size:
        return f"header.bin holds {len(raw)} bytes, not {_HEADER.size}"
    h = _Header(*_HEADER.unpack(raw))
    problem = _header_problem(h, dimension)
    if problem:
        return f"header.bin: {problem}"
    sizes = {name: (segment / name).stat().st_size for name in _FILES}
    if sizes["data_level0.bin"] < h.count * h.row:
        return f"data_level0.bin holds {sizes['data_level0.bin']} bytes, {h.count * h.row} expected"
    if sizes["length.bin"] < h.count * 4:
        return f"length.bin holds {sizes['length.bin']} bytes, {h.count * 4} expected"
    norms = np.fromfile(segment / "length.bin", dtype="<f4", count=h.count)
    if not (np.isfinite(norms) & (norms >= 0)).all():
        return "length.bin holds norms that are negative or not finite"
    levels = _link_lists_problem(segment / "link_lists.bin", h)
    if isinstance(levels, str):
        return levels
    if h.count and (levels.max() > h.max_level or levels[h.entry] != h.max_level):
        return "link_lists.bin: the element levels disagree with the header"
    live = _level0_labels(segment / "data_level0.bin", h)
    if isinstance(live, str):
        return live
    expected = np.fromiter(labels.keys(), dtype=np.uint64, count=len(labels))
    if live.shape != expected.shape or not np.array_equal(np.sort(live), np.sort(expected)):
        return (
            f"the labels of data_level0.bin ({live.size} live) do not match {ID_MAP} "
            f"({expected.size})"
        )
    return None


def _header_problem(h: _Header, dimension: int | None) -> str | None:
    if h.version != _VERSION:
        return f"persistence version {h.version}, not {_VERSION}"
    if not 2 <= h.m <= 65535 or h.max_m != h.m or h.max_m0 != 2 * h.m:
        return f"graph degrees M={h.m}, maxM={h.max_m}, maxM0={h.max_m0} are inconsistent"
    vector_bytes = h.label_offset - h.data_offset
    if (
        h.offset_level0 != 0
        or h.data_offset != 4 + 4 * h.max_m0
        or vector_bytes <= 0
        or vector_bytes % 4
        or h.row != h.label_offset + 8
    ):
        return "the row layout is inconsistent"
    if dimension is not None and vector_bytes != 4 * dimension:
        return f"rows hold {vector_bytes // 4}-d vectors, the collection is {dimension}-d"
    if h.count > h.max_elements or not 0 <= h.max_level < 64:
        return f"{h.count} elements of {h.max_elements}, top level {h.max_level}"
    if h.count and h.entry >= h.count:
        return f"entry point {h.entry} of {h.count} elements"
    return None


def _link_lists_problem(path: Path, h: _Header) -> npt.NDArray[np.int64] | str:
    """Each element's level from ``link_lists.bin``, or what is wrong with the file."""
    size = path.stat().st_size
    if size % 4:
        return "link_lists.bin is not made of 4-byte words"
    words = np.fromfile(path, dtype="<u4")
    values = words.tolist()
    block = h.max_m + 1  # words per upper-level list: a count and maxM ids
    levels = np.zeros(h.count, dtype=np.int64)
    starts: list[int] = []
    pos = 0
    for element in range(h.count):
        if pos >= len(values):
            return f"link_lists.bin ends after {element} of {h.count} elements"
        nbytes = values[pos]
        pos += 1
        if nbytes % (4 * block) or nbytes // (4 * block) > h.max_level:
            return f"link_lists.bin: element {element} has a list of {nbytes} bytes"
        level = nbytes // (4 * block)
        levels[element] = level
        starts.extend(range(pos, pos + level * block, block))
        pos += level * block
    if pos > len(values):
        return f"link_lists.bin ends inside element {h.count - 1}"
    if starts:
        lists = words[np.asarray(starts)[:, None] + np.arange(block)]
        problem = _lists_problem(lists, h.max_m, h.count)
        if problem:
            return f"link_lists.bin: {problem}"
    return levels


def _lists_problem(lists: npt.NDArray[np.uint32], capacity: int, count: int) -> str | None:
    """Rows of (header, ids...): the header's low 16 bits count the ids in use."""
    sizes = lists[:, 0] & 0xFFFF
    if (sizes > capacity).any():
        return f"a neighbour list claims {int(sizes.max())} of at most {capacity} entries"
    used = np.arange(capacity) < sizes[:, None]
    if (used & (lists[:, 1:] >= count)).any():
        return f"a neighbour id is out of range (the index has {count} elements)"
    return None


def _level0_labels(path: Path, h: _Header) -> npt.NDArray[np.uint64] | str:
    """The labels of the live elements of ``data_level0.bin``, or what is wrong with it."""
    if not h.count:
        return np.zeros(0, dtype=np.uint64)
    rows = np.memmap(path, dtype=np.uint8, mode="r", shape=(h.count, h.row))
    step = max(1, _CHUNK_BYTES // h.row)
    live = []
    for start in range(0, h.count, step):
        chunk = np.asarray(rows[start : start + step])
        lists = np.ascontiguousarray(chunk[:, : h.data_offset]).view("<u4")
        flags = lists[:, 0] >> 16  # byte 2: the deleted mark; byte 3: unused
        if (flags > 1).any():
            return f"data_level0.bin: element {start + int(np.argmax(flags > 1))} has a bad mark"
        problem = _lists_problem(lists, h.max_m0, h.count)
        if problem:
            return f"data_level0.bin: {problem}"
        labels = np.ascontiguousarray(chunk[:, h.label_offset : h.row]).view("<u8")[:, 0]
        live.append(labels[flags == 0])
    return np.concatenate(live)
