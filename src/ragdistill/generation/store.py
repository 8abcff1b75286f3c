"""A disk store of a teacher's generations, keyed by request content, safe to kill.

One folder per teacher (a fingerprint of its description) and ``k``:

* ``generations.sqlite``: ``key -> (text, finish reason, first row, rows)``, and the
  number of committed log-prob rows;
* with ``k > 0``, the teacher's sparse top-k log-probabilities, one row per generated
  token, memory-mapped: ``token_ids.i32`` ``[rows]`` (the token chosen),
  ``top_ids.i32`` ``[rows, k]`` and ``top_logprobs.f32`` ``[rows, k]`` (padding slots:
  id 0, log-prob ``-inf``). Never the full vocabulary;
* ``writer.lock``: the lock file that serialises writers.

As in :mod:`ragdistill.teacher_cache`, a batch's rows are appended and fsynced *before*
its keys are committed in one SQLite transaction, so a kill (even ``kill -9``) leaves at
most uncommitted rows at the end of the files: they are truncated on the next open and
the batch is asked again. Nothing the teacher answered and that was committed is ever
asked twice.

Several processes may write one store at once: each write (read the committed count,
cut what is past it, append, fsync, commit) holds the OS-level lock on ``writer.lock``,
which the kernel releases when its holder dies. Readers take no lock and never read a
row past the committed count. A key two writers generated is stored once, the first
writer's answer.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ragdistill.credentials import mask_secrets
from ragdistill.errors import ConfigError
from ragdistill.teacher_cache import (
    FillStats,
    append_after_committed,
    default_cache_root,
    fill_missing,
    truncate_to,
    writer_lock,
)

IntRows = npt.NDArray[np.int32]
FloatRows = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Labelled:
    """One teacher generation; the arrays are set when the store keeps log-probs."""

    text: str
    finish_reason: str
    token_ids: IntRows | None = None
    top_ids: IntRows | None = None
    top_logprobs: FloatRows | None = None


class GenerationStore:
    """Append-only generations of one teacher. Use :meth:`open`; several processes may write."""

    def __init__(self, folder: Path, k: int) -> None:
        self.folder = folder
        self.k = k
        self._lock = writer_lock(folder)
        self._db = sqlite3.connect(folder / "generations.sqlite", isolation_level=None)
        self._files = {
            "token_ids": (folder / "token_ids.i32", np.int32, 1),
            "top_ids": (folder / "top_ids.i32", np.int32, k),
            "top_logprobs": (folder / "top_logprobs.f32", np.float32, k),
        }
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._truncate_uncommitted()

    @classmethod
    def open(
        cls,
        teacher_id: str,
        *,
        k: int = 0,
        root: str | os.PathLike[str] | None = None,
        description: Any = None,
    ) -> GenerationStore:
        """The store of teacher ``teacher_id`` keeping top-``k`` log-probs, created if absent."""
        if k < 0:
            raise ConfigError(f"top_logprobs must be >= 0, got {k}")
        base = Path(root) if root is not None else default_cache_root()
        folder = base / "generations" / f"{teacher_id}-k{k}"
        folder.mkdir(parents=True, exist_ok=True)
        meta = folder / "teacher.json"
        with writer_lock(folder):  # two processes creating one store write one teacher.json
            if not meta.exists():
                tmp = meta.with_suffix(".tmp")
                tmp.write_text(
                    json.dumps({"k": k, "teacher": mask_secrets(description)}, default=str)
                )
                tmp.replace(meta)
            db = sqlite3.connect(folder / "generations.sqlite")
            with db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS gens (key TEXT PRIMARY KEY, text TEXT, "
                    "finish TEXT, start INTEGER, rows INTEGER)"
                )
                db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER)")
                db.execute("INSERT OR IGNORE INTO meta VALUES ('committed', 0)")
            db.close()
        return cls(folder, k)

    @property
    def committed_rows(self) -> int:
        return int(self._db.execute("SELECT v FROM meta WHERE k='committed'").fetchone()[0])

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM gens").fetchone()[0])

    def _truncate_uncommitted(self) -> None:
        """Drop rows a killed writer left uncommitted; the caller holds the writer lock."""
        rows = self.committed_rows
        for path, dtype, width in self._files.values():
            truncate_to(path, rows * width * np.dtype(dtype).itemsize)

    def missing(self, keys: Sequence[str]) -> list[str]:
        have: set[str] = set()
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 900):  # SQLite's host-parameter limit
            chunk = unique[start : start + 900]
            marks = ",".join("?" * len(chunk))
            found = self._db.execute(f"SELECT key FROM gens WHERE key IN ({marks})", chunk)
            have.update(k for (k,) in found.fetchall())
        return [k for k in unique if k not in have]

    def _row_arrays(self, item: Labelled) -> dict[str, np.ndarray]:
        """The log-prob rows ``item`` adds (none without ``k`` or token ids), checked."""
        if not self.k or item.token_ids is None:
            return {}
        rows = len(item.token_ids)
        arrays = {"token_ids": np.asarray(item.token_ids, np.int32).reshape(rows)}
        for name in ("top_ids", "top_logprobs"):
            value = getattr(item, name)
            if value is None or np.shape(value) != (rows, self.k):
                raise ValueError(
                    f"{name} must have shape ({rows}, {self.k}), got "
                    f"{None if value is None else np.shape(value)}"
                )
            arrays[name] = np.asarray(value)
        return arrays

    def put(self, keys: Sequence[str], items: Sequence[Labelled]) -> None:
        """Append one batch; durable once this returns.

        Keys already stored (by this or another process) keep their stored generation, as
        do repeats within the batch: only the first new occurrence of each key is written.
        """
        if len(keys) != len(items):
            raise ValueError(f"{len(keys)} keys for {len(items)} generations")
        prepared = [self._row_arrays(item) for item in items]
        with self._lock:
            keep, new = [], set(self.missing(keys))
            for i, key in enumerate(keys):
                if key in new:
                    new.discard(key)
                    keep.append(i)
            if not keep:
                return
            start = self.committed_rows  # stable: every writer holds the lock
            records, offset = [], start
            arrays: dict[str, list[np.ndarray]] = {name: [] for name in self._files}
            for i in keep:
                rows = len(prepared[i].get("token_ids", ()))
                for name, value in prepared[i].items():
                    arrays[name].append(value)
                records.append((keys[i], items[i].text, items[i].finish_reason, offset, rows))
                offset += rows
            for name, (path, dtype, width) in self._files.items():
                if arrays[name]:
                    data = np.concatenate(arrays[name]).astype(dtype).tobytes()
                    committed_bytes = start * width * np.dtype(dtype).itemsize
                    append_after_committed(path, committed_bytes, data)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self.committed_rows != start:
                    raise RuntimeError(
                        f"generation store {self.folder} was written by a process that does "
                        f"not take {self._lock.lock_file}; nothing was committed"
                    )
                self._db.executemany("INSERT INTO gens VALUES (?, ?, ?, ?, ?)", records)
                self._db.execute("UPDATE meta SET v=? WHERE k='committed'", (offset,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def get(self, keys: Sequence[str]) -> list[Labelled]:
        """The generations of ``keys`` in order; KeyError naming the first missing one."""
        found: dict[str, tuple[str, str, int, int]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 900):
            chunk = unique[start : start + 900]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, text, finish, start, rows FROM gens WHERE key IN ({marks})"
            found.update((k, (t, f, s, r)) for k, t, f, s, r in self._db.execute(query, chunk))
        if absent := [k for k in keys if k not in found]:
            raise KeyError(f"generation {absent[0][:12]}... is not stored; label it first")
        maps = self._maps() if self.k else {}  # after the rows: committed with their count
        out = []
        for key in keys:
            text, finish, start, rows = found[key]
            if not maps or rows == 0:
                out.append(Labelled(text, finish))
                continue
            span = slice(start, start + rows)
            out.append(
                Labelled(
                    text,
                    finish,
                    np.array(maps["token_ids"][span]),
                    np.array(maps["top_ids"][span]),
                    np.array(maps["top_logprobs"][span]),
                )
            )
        return out

    def _maps(self) -> dict[str, np.ndarray]:
        rows = self.committed_rows
        if rows == 0:
            return {}
        return {
            name: np.memmap(
                path, dtype=dtype, mode="r", shape=(rows,) if name == "token_ids" else (rows, width)
            )
            for name, (path, dtype, width) in self._files.items()
        }

    def fill(
        self,
        keys: Sequence[str],
        compute: Callable[[list[int]], list[Labelled]],
        *,
        batch_size: int,
        show_progress: bool = True,
        desc: str = "teacher answers",
    ) -> FillStats:
        """Generate what is not stored yet, ``compute(indices)`` per batch of ``keys``.

        Each batch is checked again just before it is asked, so keys another process
        committed meanwhile are not asked of the teacher twice.
        """
        return fill_missing(self, keys, compute, batch_size=batch_size,
                            show_progress=show_progress, desc=desc, unit="prompt")  # fmt: skip

    def close(self) -> None:
        self._db.close()
