"""A Chroma collection tied to one embedder, indexed incrementally and resumably.

* The collection's metadata records the embedder's fingerprint and dimension; opening
  it with another embedder fails instead of mixing two vector spaces.
* Every record carries a hash of its text: re-adding a corpus embeds only new or
  changed passages, and ``sync=True`` deletes passages that disappeared.
* Batches are upserted one by one, so a killed run resumes where it stopped.
* :meth:`ChromaIndex.search` returns documents, each scored by its best passage.
* An embedded folder is checked before Chroma loads it (:mod:`ragdistill.index.integrity`)
  and its writers take turns (:mod:`ragdistill.index.store`).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragdistill.contracts import Embedder
from ragdistill.datasets import Document, Passage
from ragdistill.errors import ConfigError, require
from ragdistill.index.fingerprint import embedder_fingerprint
from ragdistill.index.store import EmbeddedStore, ServerStore, embedded_store

DEFAULT_PATH = Path(".ragdistill") / "chroma"
FINGERPRINT_KEY = "ragdistill:embedder_fingerprint"
DIMENSION_KEY = "ragdistill:dimension"
EMBEDDER_KEY = "ragdistill:embedder_class"
HASH_KEY = "content_sha256"
DOC_KEY = "doc_id"
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")


_SQL_VARIABLES = 30_000


class IndexMismatchError(ConfigError):
    """The collection was built with another embedder or dimension."""


@dataclass(frozen=True)
class SearchTiming:
    """Seconds spent embedding the queries and searching the index, for one call."""

    encode_s: float
    search_s: float
    n_queries: int

    @property
    def total_s(self) -> float:
        return self.encode_s + self.search_s


@dataclass(frozen=True)
class IndexStats:
    """What one :meth:`ChromaIndex.add` call did."""

    embedded: int
    unchanged: int
    deleted: int


class ChromaIndex:
    """Passages embedded by ``embedder`` in a Chroma collection (cosine similarity).

    Embedded (``chromadb.PersistentClient(path)``) by default; a Chroma server when
    ``host`` is given. ``rebuild=True`` drops the collection first.

    An embedded collection's files are checked before Chroma loads them: a damaged one
    raises :class:`~ragdistill.index.integrity.IndexDamagedError` instead of crashing or
    searching part of its vectors. Processes sharing a folder take turns on a file lock
    and reload the index after each other's writes, so nothing is lost, but they run one
    at a time: several processes that index at once should use a Chroma server
    (``chroma run --path DIR``, then ``host=``).
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        collection: str,
        path: Path | str | None = None,
        host: str | None = None,
        port: int | None = None,
        rebuild: bool = False,
        batch_size: int = 64,
        show_progress: bool = True,
    ) -> None:
        if not _NAME.match(collection) or ".." in collection:
            raise ConfigError(
                f"collection name {collection!r} is not valid for Chroma: use 3-512 characters "
                "from a-z A-Z 0-9 . _ -, starting and ending with a letter or digit"
            )
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.embedder = embedder
        self.name = collection
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.fingerprint = embedder_fingerprint(embedder)
        self.dimension = embedder.dimension
        self._store = _store(path, host, port)
        self.last_timing: SearchTiming | None = None
        self._client: Any = None
        with self._store.hold(self.name, write=True) as client:
            if rebuild:
                self._drop(client)
            self._collection = self._open(client)
            self._client = client

    @contextmanager
    def _use(self, *, write: bool = False) -> Iterator[Any]:
        """The collection for one call, held from other processes (embedded store)."""
        with self._store.hold(self.name, write=write) as client:
            if client is not self._client:  # the store reopened: another process wrote
                self._collection = client.get_collection(self.name, embedding_function=None)
                self._client = client
            self._store.verify(self.name, self._collection)
            yield self._collection

    def _open(self, client: Any) -> Any:
        metadata = {
            FINGERPRINT_KEY: self.fingerprint,
            DIMENSION_KEY: self.dimension,
            EMBEDDER_KEY: str(self.embedder.describe().get("class", type(self.embedder).__name__)),
        }
        col = client.get_or_create_collection(
            self.name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata=metadata,
            embedding_function=None,
        )
        self._store.verify(self.name, col)  # before anything loads its vectors
        found = col.metadata or {}
        if FINGERPRINT_KEY not in found:
            if col.count():
                raise IndexMismatchError(
                    f"collection {self.name!r} holds data ragdistill did not index (no embedder "
                    "fingerprint); choose another collection name or pass rebuild=True (--rebuild)"
                )
            col.modify(metadata=metadata)
            found = metadata
        if (
            found.get(FINGERPRINT_KEY) != self.fingerprint
            or found.get(DIMENSION_KEY) != self.dimension
        ):
            raise IndexMismatchError(
                f"collection {self.name!r} was built with another embedder "
                f"({found.get(EMBEDDER_KEY)}, dimension {found.get(DIMENSION_KEY)}, fingerprint "
                f"{str(found.get(FINGERPRINT_KEY))[:12]}) than "
                f"{metadata[EMBEDDER_KEY]} (dimension {self.dimension}, fingerprint "
                f"{self.fingerprint[:12]}); use another collection name, or rebuild it with "
                "rebuild=True (--rebuild)"
            )
        space = ((col.configuration or {}).get("hnsw") or {}).get("space", "cosine")
        if space != "cosine":
            raise IndexMismatchError(
                f"collection {self.name!r} uses the {space!r} distance, not cosine; rebuild it"
            )
        return col

    @property
    def client(self) -> Any:
        """The Chroma client of the last call (an embedded store replaces it after
        another process's writes)."""
        return self._client

    def __len__(self) -> int:
        with self._use() as col:
            return int(col.count())

    def drop(self) -> None:
        """Delete the collection if it exists (a later :meth:`add` starts afresh)."""
        with self._store.hold(self.name, write=True) as client:
            self._drop(client)
            self._collection = self._open(client)
            self._client = client

    def _drop(self, client: Any) -> None:
        if any(_name_of(c) == self.name for c in client.list_collections()):
            client.delete_collection(self.name)
        self._store.forget(self.name)

    def add(
        self,
        items: Iterable[Passage | Document],
        *,
        sync: bool = False,
        batch_size: int | None = None,
    ) -> IndexStats:
        """Index passages (a :class:`Document` is one passage); embed only what changed.

        With ``sync=True`` records whose id is not among ``items`` are deleted, so the
        collection mirrors exactly this corpus.
        """
        from tqdm.auto import tqdm

        passages = [_as_passage(item) for item in items]
        ids = [p.id for p in passages]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ConfigError(f"passage id {dup!r} appears twice; ids must be unique")
        size = batch_size or self.batch_size
        embedded = unchanged = 0
        with tqdm(total=len(passages), desc=f"indexing {self.name}", unit="passage",
                  disable=not self.show_progress) as bar:  # fmt: skip
            for start in range(0, len(passages), size):
                batch = passages[start : start + size]
                stored = self._stored_hashes([p.id for p in batch])
                todo = [p for p in batch if stored.get(p.id) != content_hash(p)]
                unchanged += len(batch) - len(todo)
                if todo:
                    self._upsert(todo)
                    embedded += len(todo)
                bar.update(len(batch))
        deleted = self._delete_except(set(ids)) if sync else 0
        return IndexStats(embedded=embedded, unchanged=unchanged, deleted=deleted)

    def _stored_hashes(self, ids: list[str]) -> dict[str, str]:
        with self._use() as col:
            got = col.get(ids=ids, include=["metadatas"])
        return {i: (m or {}).get(HASH_KEY, "") for i, m in zip(got["ids"], got["metadatas"] or [])}

    def _upsert(self, passages: list[Passage]) -> None:
        vectors = self.embedder.embed_many([p.text for p in passages], input_type="document")
        with self._use(write=True) as col:  # embedded above, outside the hold
            col.upsert(
                ids=[p.id for p in passages],
                embeddings=vectors,
                documents=[p.text for p in passages],
                metadatas=[{DOC_KEY: p.doc_id, HASH_KEY: content_hash(p)} for p in passages],
            )

    def _delete_except(self, keep: set[str]) -> int:
        stale: list[str] = []
        page = 1000
        with self._use(write=True) as col:
            for offset in range(0, col.count(), page):
                got = col.get(include=[], limit=page, offset=offset)
                stale.extend(i for i in got["ids"] if i not in keep)
            for start in range(0, len(stale), page):
                col.delete(ids=stale[start : start + page])
        return len(stale)

    def search(self, query_texts: Sequence[str], k: int = 10) -> list[list[tuple[str, float]]]:
        """The ``k`` best documents per query as ``(doc_id, cosine similarity)``, best first.

        A document scores as its best passage. Timing of the call is kept in
        :attr:`last_timing` (query encoding and index search separately).
        """
        return self._search(query_texts, k, by_document=True)

    def search_passages(
        self, query_texts: Sequence[str], k: int = 10
    ) -> list[list[tuple[str, float]]]:
        """The ``k`` best passages per query as ``(passage_id, cosine similarity)``."""
        return self._search(query_texts, k, by_document=False)

    def _search(
        self, query_texts: Sequence[str], k: int, *, by_document: bool
    ) -> list[list[tuple[str, float]]]:
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        texts = list(query_texts)
        t0 = time.perf_counter()
        vectors = self.embedder.embed_many(texts, input_type="query")
        t1 = time.perf_counter()
        results = self._query(vectors, k, by_document) if texts else []
        self.last_timing = SearchTiming(t1 - t0, time.perf_counter() - t1, len(texts))
        return results

    def _query(self, vectors: Any, k: int, by_document: bool) -> list[list[tuple[str, float]]]:
        # Fetch more passages than documents wanted, and widen the fetch for any query
        # whose passages cover fewer than k documents: the first k distinct documents
        # of the passage ranking are then exactly the k best by max-pooled score.
        total = len(self)  # other processes or clients may have written since
        out: list[list[tuple[str, float]]] = [[] for _ in range(len(vectors))]
        if not total:
            return out
        n = min(total, k * (3 if by_document else 1))
        pending = list(range(len(vectors)))
        while pending:
            retry = []
            # Chroma answers a batch with one SQL statement of about n variables per
            # query: batches stay under SQLite's limit of 32,766.
            step = max(1, _SQL_VARIABLES // n)
            for start in range(0, len(pending), step):
                chunk = pending[start : start + step]
                with self._use() as col:
                    got = col.query(
                        query_embeddings=vectors[chunk], n_results=n,
                        include=["metadatas", "distances"],
                    )  # fmt: skip
                for row, qi in enumerate(chunk):
                    hits = zip(got["ids"][row], got["metadatas"][row], got["distances"][row])
                    ranked = _rank(hits, by_document)
                    if by_document and len(ranked) < k and n < total:
                        retry.append(qi)
                    out[qi] = ranked[:k]
            pending, n = retry, min(total, n * 4)
        return out


def content_hash(passage: Passage) -> str:
    return hashlib.sha256(f"{passage.doc_id}\0{passage.text}".encode()).hexdigest()


def _rank(hits: Iterable[tuple[str, Any, float]], by_document: bool) -> list[tuple[str, float]]:
    ranked: dict[str, float] = {}
    for pid, meta, distance in hits:
        key = (meta or {}).get(DOC_KEY, pid) if by_document else pid
        if key not in ranked:  # hits come best first, so the first is the max
            ranked[key] = 1.0 - float(distance)
    return list(ranked.items())


def _as_passage(item: Passage | Document) -> Passage:
    if isinstance(item, Passage):
        return item
    if isinstance(item, Document):
        return Passage(item.id, item.id, item.full_text())
    raise TypeError(f"index items must be Passage or Document, got {type(item).__name__}")


def _name_of(collection: Any) -> str:
    return collection if isinstance(collection, str) else collection.name


def _store(
    path: Path | str | None, host: str | None, port: int | None
) -> EmbeddedStore | ServerStore:
    chromadb = require("chromadb", extra="chroma")
    if host:
        settings = chromadb.Settings(anonymized_telemetry=False)
        return ServerStore(chromadb.HttpClient(host=host, port=port or 8000, settings=settings))
    if port is not None:
        raise ConfigError("port was given without host; pass host too for a Chroma server")
    return embedded_store(Path(path) if path is not None else DEFAULT_PATH)
