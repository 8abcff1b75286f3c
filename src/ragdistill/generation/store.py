"""A disk store of a teacher's generations, keyed by request content, safe to kill.

One folder per teacher (a fingerprint of its description) and ``k``:

* ``generations.sqlite``: ``key -> (text, finish reason, first row, rows)``, and the
  number of committed log-prob rows;
* with ``k > 0``, the teacher's sparse top-k log-probabilities, one row per generated
  token, memory-mapped: ``token_ids.i32`` ``[rows]`` (the token chosen),
  ``top_ids.i32`` ``[rows, k]`` and ``top_logprobs.f32`` ``[rows, k]`` (padding slots:
  id 0, log-prob ``-inf``). Never the full vocabulary.

As in :mod:`ragdistill.teacher_cache`, a batch's rows are appended and fsynced *before*
its keys are committed in one SQLite transaction, so a kill (even ``kill -9``) leaves at
most uncommitted rows at the end of the files: they are truncated on the next open and
the batch is asked again. Nothing the teacher answered and that was committed is ever
asked twice.
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

from ragdistill.errors import ConfigError
from ragdistill.teacher_cache import FillStats, default_cache_root

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
    """Append-only generations of one teacher. Use :meth:`open`; one writer at a time."""

    def __init__(self, folder: Path, k: int) -> None:
        self.folder = folder
        self.k = k
        self._db = sqlite3.connect(folder / "generations.sqlite", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._files = {
            "token_ids": (folder / "token_ids.i32", np.int32, 1),
            "top_ids": (folder / "top_ids.i32", np.int32, k),
            "top_logprobs": (folder / "top_logprobs.f32", np.float32, k),
        }
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
        if not meta.exists():
            tmp = meta.with_suffix(".tmp")
            tmp.write_text(json.dumps({"k": k, "teacher": description}, default=str))
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
        rows = self.committed_rows
        for path, dtype, width in self._files.values():
            size = rows * width * np.dtype(dtype).itemsize
            if path.exists() and path.stat().st_size > size:
                with open(path, "r+b") as fh:
                    fh.truncate(size)

    def missing(self, keys: Sequence[str]) -> list[str]:
        have: set[str] = set()
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 900):  # SQLite's host-parameter limit
            chunk = unique[start : start + 900]
            marks = ",".join("?" * len(chunk))
            found = self._db.execute(f"SELECT key FROM gens WHERE key IN ({marks})", chunk)
            have.update(k for (k,) in found.fetchall())
        return [k for k in unique if k not in have]

    def put(self, keys: Sequence[str], items: Sequence[Labelled]) -> None:
        """Append one batch; durable once this returns."""
        if len(keys) != len(items):
            raise ValueError(f"{len(keys)} keys for {len(items)} generations")
        start = self.committed_rows
        records, offset = [], start
        arrays: dict[str, list[np.ndarray]] = {name: [] for name in self._files}
        for key, item in zip(keys, items):
            rows = 0
            if self.k and item.token_ids is not None:
                rows = len(item.token_ids)
                arrays["token_ids"].append(np.asarray(item.token_ids, np.int32).reshape(rows))
                for name in ("top_ids", "top_logprobs"):
                    value = getattr(item, name)
                    if value is None or np.shape(value) != (rows, self.k):
                        raise ValueError(
                            f"{name} must have shape ({rows}, {self.k}), got "
                            f"{None if value is None else np.shape(value)}"
                        )
                    arrays[name].append(np.asarray(value))
            records.append((key, item.text, item.finish_reason, offset, rows))
            offset += rows
        for name, (path, dtype, _) in self._files.items():
            if arrays[name]:
                with open(path, "ab") as fh:
                    fh.write(np.concatenate(arrays[name]).astype(dtype).tobytes())
                    fh.flush()
                    os.fsync(fh.fileno())
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR IGNORE INTO gens VALUES (?, ?, ?, ?, ?)", records)
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
        maps = self._maps() if self.k else {}
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
        """Generate what is not stored yet, ``compute(indices)`` per batch of ``keys``."""
        from tqdm.auto import tqdm

        todo_keys = set(self.missing(keys))
        seen: set[str] = set()
        todo = []
        for i, key in enumerate(keys):
            if key in todo_keys and key not in seen:
                seen.add(key)
                todo.append(i)
        unique = len(set(keys))
        with tqdm(total=len(todo), desc=desc, unit="prompt", disable=not show_progress) as bar:
            for start in range(0, len(todo), batch_size):
                batch = todo[start : start + batch_size]
                self.put([keys[i] for i in batch], compute(batch))
                bar.update(len(batch))
        return FillStats(unique, len(todo), unique - len(todo))

    def close(self) -> None:
        self._db.close()
