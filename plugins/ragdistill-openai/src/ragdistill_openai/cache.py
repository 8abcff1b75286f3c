"""A disk cache of API responses, so re-running a distillation costs no request.

Rows live in one sqlite3 file and hold JSON, never pickle: a cache directory copied
from elsewhere can carry data but not code. Keys are the sha256 of the base URL, the
endpoint and the request body written as canonical JSON, so any change to the model,
the prompt or a parameter is a different key. The API key is never part of a key or a
value.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

HOME_ENV = "RAGDISTILL_HOME"
FILE_NAME = "responses.sqlite3"


def default_cache_dir() -> Path:
    """``$RAGDISTILL_HOME/openai-cache``, else the platform's user cache folder."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser() / "openai-cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir("ragdistill")) / "openai-cache"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(base_url: str, endpoint: str, body: Mapping[str, Any]) -> str:
    """The cache key of one request: sha256 of (base_url, endpoint, canonical body)."""
    payload = canonical_json([base_url.rstrip("/"), endpoint.strip("/"), body])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ResponseCache:
    """JSON values by key in ``<directory>/responses.sqlite3``; safe across threads.

    Several processes may share one directory: sqlite's own locking (WAL mode) keeps
    the file consistent, and a write lost to a race only costs one repeated request.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser()
        self.path = self.directory / FILE_NAME
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=30.0, check_same_thread=False, isolation_level=None
            )
            with contextlib.suppress(
                sqlite3.OperationalError
            ):  # some network filesystems refuse WAL
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS responses "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
            )
            self._conn = conn
        return self._conn

    def get(self, key: str) -> Any | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The cached values of those ``keys`` that are present."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, Any] = {}
        # sqlite limits bound parameters per statement; 500 is well under every default.
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                rows = (
                    self._connect()
                    .execute(f"SELECT key, value FROM responses WHERE key IN ({marks})", chunk)
                    .fetchall()
                )
            for key, text in rows:
                try:
                    found[key] = json.loads(text)
                except json.JSONDecodeError:
                    continue  # a damaged row is a miss; the next put rewrites it
        return found

    def put(self, key: str, value: Any) -> None:
        self.put_many({key: value})

    def put_many(self, items: Mapping[str, Any]) -> None:
        now = time.time()
        rows = [(key, canonical_json(value), now) for key, value in items.items()]
        if not rows:
            return
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN")
            conn.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", rows)
            conn.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._connect().execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(count)

    def clear(self) -> None:
        with self._lock:
            self._connect().execute("DELETE FROM responses")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
