"""A disk cache of teacher outputs, keyed by content hash, safe to kill at any point.

Each teacher (identified by a fingerprint of its class and options) gets a folder:

* ``vectors.f32``: float32 rows appended in batches, read back through ``np.memmap``;
* ``index.sqlite``: ``key -> row`` plus the number of committed rows;
* ``writer.lock``: the lock file that serialises writers (see below).

A batch is appended to ``vectors.f32`` and flushed *before* its keys are committed in
one SQLite transaction, so a kill leaves at most some uncommitted rows at the end of
the file; they are truncated on the next open and recomputed. Outputs are reused across
runs, recipes and students: only texts never seen by this teacher cost teacher time.

Several processes may write one cache at once (two runs sharing the default cache,
sharded labelling). Each write -- read the committed count, drop what is past it, append,
fsync, commit -- runs under an OS-level lock on ``writer.lock`` (:mod:`filelock`:
``flock`` on Unix), which the kernel releases when a holder dies, so a ``kill -9`` never
blocks the others; the rows it left uncommitted are cut by the next writer. Readers take
no lock: a key is committed in the same transaction as the count that covers its row,
so they never read a row past the committed count. A key two writers computed is stored
once: the second writer sees it committed and drops it from its batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from filelock import BaseFileLock, FileLock

from ragdistill.credentials import mask_secrets
from ragdistill.errors import ConfigError

Vectors = npt.NDArray[np.float32]


#: A folder for every teacher cache (a big or shared disk), over ``$RAGDISTILL_HOME``.
CACHE_ENV = "RAGDISTILL_TEACHER_CACHE"


def default_cache_root() -> Path:
    """``$RAGDISTILL_TEACHER_CACHE``, else ``$RAGDISTILL_HOME/teacher-cache``, else the user
    cache directory's ``teacher-cache``. A recipe's ``cache_dir`` overrides all three."""
    if folder := os.environ.get(CACHE_ENV):
        return Path(folder)
    home = os.environ.get("RAGDISTILL_HOME")
    if home:
        return Path(home) / "teacher-cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir("ragdistill")) / "teacher-cache"


def fingerprint(description: Any) -> str:
    """A stable id for a teacher: sha256 of its canonical JSON description.

    ``description`` is the teacher's ``describe()``: its class and options, plus (see
    :mod:`ragdistill.provenance`) the ``cache_version`` its class declares and, for a
    class of a third-party distribution that declares none, that distribution's name and
    version. So a plugin release or a bumped ``cache_version`` gets a fresh cache, while
    the caches of built-in components without ``cache_version`` keep their old ids.
    Operational options (batch size, device, retries...) are left out: they do not
    change the outputs, so changing them must not throw the cache away.
    """
    from ragdistill.contracts.base import identity

    if isinstance(description, dict):
        description = identity(description)
    blob = json.dumps(description, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def writer_lock(folder: Path) -> BaseFileLock:
    """The inter-process lock every writer of the cache in ``folder`` holds while writing.

    Not reentrant across instances: never take a second one on the same folder while
    holding one (two ``flock`` descriptors on one file exclude each other, even in one
    process).
    """
    return FileLock(str(folder / "writer.lock"))


def append_after_committed(path: Path, committed_bytes: int, data: bytes) -> None:
    """Write ``data`` right after the first ``committed_bytes`` of ``path``, then fsync.

    The caller holds the :func:`writer_lock`. Bytes past the committed ones are a batch a
    killed writer never committed: they are cut first, so the new rows land exactly at
    the row numbers the caller is about to commit.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    with os.fdopen(fd, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size < committed_bytes:
            raise ConfigError(
                f"{path} holds {size} bytes but its index commits {committed_bytes}; the cache "
                f"is damaged: delete {path.parent} to rebuild it"
            )
        if size > committed_bytes:
            fh.truncate(committed_bytes)
        fh.seek(committed_bytes)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def truncate_to(path: Path, size: int) -> None:
    """Cut ``path`` to ``size`` bytes if longer; the caller holds the :func:`writer_lock`."""
    if path.exists() and path.stat().st_size > size:
        with open(path, "r+b") as fh:
            fh.truncate(size)


def content_key(*parts: str) -> str:
    """sha256 of the parts, unambiguously joined (a text, or a query and a document)."""
    digest = hashlib.sha256()
    for part in parts:
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


@dataclass(frozen=True)
class FillStats:
    total: int
    computed: int
    reused: int


class TeacherCache:
    """Append-only vectors of one teacher. Use :meth:`open`; several processes may write."""

    def __init__(self, folder: Path, dim: int) -> None:
        self.folder = folder
        self.dim = dim
        self._lock = writer_lock(folder)
        self._db = sqlite3.connect(folder / "index.sqlite", isolation_level=None)
        self._vectors = folder / "vectors.f32"
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._truncate_uncommitted()

    @classmethod
    def open(
        cls,
        teacher_id: str,
        *,
        dim: int,
        root: str | os.PathLike[str] | None = None,
        description: Any = None,
    ) -> TeacherCache:
        """The cache of teacher ``teacher_id`` (a :func:`fingerprint`), created if absent."""
        folder = Path(root or default_cache_root()) / teacher_id
        folder.mkdir(parents=True, exist_ok=True)
        meta_path = folder / "teacher.json"
        with writer_lock(folder):  # two processes creating one cache write one teacher.json
            if meta_path.exists():
                meta = json.loads(meta_path.read_text())
                if meta["dim"] != dim:
                    raise ConfigError(
                        f"teacher cache {folder} holds {meta['dim']}-d outputs but the teacher "
                        f"now gives {dim}-d; delete that folder to rebuild it"
                    )
            else:
                tmp = meta_path.with_suffix(".tmp")
                tmp.write_text(
                    json.dumps({"dim": dim, "teacher": mask_secrets(description)}, default=str)
                )
                tmp.replace(meta_path)
            db = sqlite3.connect(folder / "index.sqlite")
            with db:
                db.execute("CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, row INTEGER)")
                db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER)")
                db.execute("INSERT OR IGNORE INTO meta VALUES ('committed', 0)")
            db.close()
        return cls(folder, dim)

    @staticmethod
    def stored_dim(teacher_id: str, *, root: str | os.PathLike[str] | None = None) -> int | None:
        """The output width recorded for a teacher's cache, or None if it has none yet."""
        meta_path = Path(root or default_cache_root()) / teacher_id / "teacher.json"
        if not meta_path.is_file():
            return None
        return int(json.loads(meta_path.read_text())["dim"])

    @property
    def committed(self) -> int:
        return int(self._db.execute("SELECT v FROM meta WHERE k='committed'").fetchone()[0])

    def __len__(self) -> int:
        return self.committed

    def _truncate_uncommitted(self) -> None:
        """Drop rows a killed writer left uncommitted; the caller holds the writer lock."""
        truncate_to(self._vectors, self.committed * self.dim * 4)

    def rows_of(self, keys: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(keys), 900):  # SQLite's host-parameter limit
            chunk = list(keys[start : start + 900])
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, row FROM rows WHERE key IN ({marks})"
            found.update(self._db.execute(query, chunk).fetchall())
        return found

    def missing(self, keys: Sequence[str]) -> list[str]:
        have = self.rows_of(keys)
        return [k for k in dict.fromkeys(keys) if k not in have]

    def put(self, keys: Sequence[str], vectors: Vectors) -> None:
        """Append one batch; durable once this returns.

        Keys already stored (by this or another process) keep their stored vector, as do
        repeats within the batch: only the first new occurrence of each key is written.
        """
        array = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(keys), self.dim)
        with self._lock:
            keep, new = [], set(self.missing(keys))
            for i, key in enumerate(keys):
                if key in new:
                    new.discard(key)
                    keep.append(i)
            if not keep:
                return
            start = self.committed  # stable: every writer holds the lock
            append_after_committed(
                self._vectors, start * self.dim * 4, np.ascontiguousarray(array[keep]).tobytes()
            )
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self.committed != start:
                    raise RuntimeError(
                        f"teacher cache {self.folder} was written by a process that does not take "
                        f"{self._lock.lock_file}; nothing was committed"
                    )
                self._db.executemany(
                    "INSERT INTO rows VALUES (?, ?)",
                    [(keys[i], start + n) for n, i in enumerate(keep)],
                )
                self._db.execute("UPDATE meta SET v=? WHERE k='committed'", (start + len(keep),))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def get(self, keys: Sequence[str]) -> Vectors:
        """Vectors for ``keys`` in order; KeyError naming the first missing one."""
        rows = self.rows_of(keys)
        if len(rows) < len(set(keys)):
            absent = next(k for k in keys if k not in rows)
            raise KeyError(f"teacher output {absent[:12]}... is not cached; fill the cache first")
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Read after the rows: a row is committed with the count that covers it.
        table = np.memmap(
            self._vectors, dtype=np.float32, mode="r", shape=(self.committed, self.dim)
        )
        return np.array(table[[rows[k] for k in keys]])

    def fill(
        self,
        keys: Sequence[str],
        compute: Callable[[list[int]], Vectors],
        *,
        batch_size: int,
        show_progress: bool = True,
        desc: str = "teacher labelling",
    ) -> FillStats:
        """Compute outputs for the keys not cached yet, ``compute(indices)`` per batch.

        Each batch is checked again just before it is computed, so keys another process
        committed meanwhile are not asked of the teacher twice.
        """
        return fill_missing(self, keys, compute, batch_size=batch_size,
                            show_progress=show_progress, desc=desc, unit="text")  # fmt: skip

    def close(self) -> None:
        self._db.close()


def fill_missing(
    cache: Any,
    keys: Sequence[str],
    compute: Callable[[list[int]], Any],
    *,
    batch_size: int,
    show_progress: bool,
    desc: str,
    unit: str,
) -> FillStats:
    """Store ``compute(indices)`` in ``cache`` (its ``missing`` and ``put``) for each
    batch of the keys it lacks, first occurrences only. Each batch is checked again just
    before it is computed, so keys another process committed meanwhile are not asked of
    the teacher twice."""
    from tqdm.auto import tqdm

    todo_keys = set(cache.missing(keys))
    seen: set[str] = set()
    todo = []
    for i, key in enumerate(keys):
        if key in todo_keys and key not in seen:
            seen.add(key)
            todo.append(i)
    unique, computed = len(set(keys)), 0
    with tqdm(total=len(todo), desc=desc, unit=unit, disable=not show_progress) as bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            still = set(cache.missing([keys[i] for i in batch]))
            batch_todo = [i for i in batch if keys[i] in still]
            if batch_todo:
                cache.put([keys[i] for i in batch_todo], compute(batch_todo))
                computed += len(batch_todo)
            bar.update(len(batch))
    return FillStats(unique, computed, unique - computed)


def embedding_keys(texts: Iterable[str], input_type: str) -> list[str]:
    return [content_key(input_type, t) for t in texts]
