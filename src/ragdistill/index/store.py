"""Where a :class:`~ragdistill.index.ChromaIndex` keeps its collections: a folder or a server.

Embedded Chroma (``PersistentClient``) is built for one process. Each process keeps its
own copy of a collection's HNSW index in memory and rewrites the shared files from it
every ``sync_threshold`` records; the write-ahead log it would catch up from is purged
up to the last rewrite. With two writers, one rewrites the files from a copy that lacks
the other's last records: they stay in SQLite but vanish from the index (``Error finding
id``, passages that no search returns), and several processes creating a new folder at
once race in its migrations. A lock alone does not help, since the stale copy survives it.

:class:`EmbeddedStore` makes the processes of one machine take turns and start from the
files every time another process has written:

* every Chroma call on the folder runs under an OS-level lock on ``ragdistill.lock`` in
  it (:mod:`filelock`: ``flock`` on Unix, released by the kernel if its holder dies);
* each write stamps the collection in ``ragdistill-writes.json`` with this store's token;
  a stamp from another process since this store's last look makes it close its client
  and open a new one, whose index is loaded from the files and the log, complete;
* before Chroma loads a collection in a new client,
  :func:`~ragdistill.index.integrity.check_collection` checks its files.

This serialises writers and costs a reload whenever they alternate: several processes
that index at once should share a Chroma server (``chroma run``, ``ChromaIndex(host=...)``)
instead, which :class:`ServerStore` stands for. Only ragdistill's indexes take part: a
``PersistentClient`` of your own on the same folder writes around the lock, and one in
this process keeps Chroma's shared client alive, so a reload cannot refresh it.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock

from ragdistill.index.integrity import check_collection

LOCK_NAME = "ragdistill.lock"
WRITES_NAME = "ragdistill-writes.json"

_stores: dict[Path, EmbeddedStore] = {}
_stores_guard = threading.Lock()


class ServerStore:
    """A Chroma server: it orders its clients' writes itself, nothing to hold."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @contextmanager
    def hold(self, name: str, *, write: bool = False) -> Iterator[Any]:
        yield self.client

    def verify(self, name: str, collection: Any) -> None:
        """Nothing to check: the server owns its files."""

    def forget(self, name: str) -> None:
        """Nothing to forget."""


class EmbeddedStore:
    """One folder of embedded Chroma, shared by this process's indexes (see the module)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.token = uuid.uuid4().hex
        self._lock = FileLock(str(folder / LOCK_NAME), thread_local=False)
        self._guard = threading.RLock()
        self._client: Any = None
        self._seen: dict[str, str | None] = {}  # the stamp each collection had when last used
        self._verified: set[str] = set()  # collections checked since the client opened

    @contextmanager
    def hold(self, name: str, *, write: bool = False) -> Iterator[Any]:
        """Hold the folder for one call on collection ``name``; yields a current client.

        With ``write=True`` the collection is stamped as written by this store on exit.
        """
        with self._guard, self._lock:
            stamps = self._stamps()
            if self._client is None or self._seen.get(name, stamps.get(name)) != stamps.get(name):
                self._reopen()
            self._seen[name] = stamps.get(name)
            try:
                yield self._client
            finally:
                if write:
                    self._stamp(name, stamps)

    def verify(self, name: str, collection: Any) -> None:
        """Check ``collection``'s files once per client, before Chroma loads them.

        Call it within :meth:`hold`, before the collection's first count, get or query.
        """
        if name not in self._verified:
            check_collection(self.folder, str(collection.id), name)
            self._verified.add(name)

    def forget(self, name: str) -> None:
        """``name`` was deleted: a collection created under it is checked afresh."""
        self._verified.discard(name)

    def _reopen(self) -> None:
        import chromadb
        from chromadb.config import Settings

        if self._client is not None:
            close = getattr(self._client, "close", None)
            if callable(close):
                close()
            else:  # chromadb < 1.5.2: drop the shared client so that a new one starts
                self._client.clear_system_cache()
        settings = Settings(anonymized_telemetry=False)
        self._client = chromadb.PersistentClient(path=str(self.folder), settings=settings)
        self._seen.clear()
        self._verified.clear()

    def _stamps(self) -> dict[str, str]:
        try:
            found = json.loads((self.folder / WRITES_NAME).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def _stamp(self, name: str, stamps: dict[str, str]) -> None:
        stamps = {**stamps, name: self.token}
        tmp = self.folder / f"{WRITES_NAME}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(stamps, sort_keys=True), encoding="utf-8")
        tmp.replace(self.folder / WRITES_NAME)
        self._seen[name] = self.token


def embedded_store(folder: Path) -> EmbeddedStore:
    """The store of ``folder`` (created if absent) in this process."""
    folder.mkdir(parents=True, exist_ok=True)
    key = folder.resolve()
    with _stores_guard:
        if key not in _stores:
            _stores[key] = EmbeddedStore(key)
        return _stores[key]
