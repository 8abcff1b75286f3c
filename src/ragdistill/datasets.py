"""The retrieval data model every loader produces, and the loader base class.

A :class:`RetrievalDataset` holds whole documents, queries and graded relevance
judgements (qrels) at *document* level. Long documents are split into
:class:`Passage` s only when they are embedded (:meth:`RetrievalDataset.passages`);
each passage keeps its ``doc_id``, and retrieval is scored per document by the best
passage of that document (max-pooling). So qrels written for whole documents still
evaluate, whatever the chunk size, and a document's passages never count twice.
"""

from __future__ import annotations

import hashlib
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from ragdistill.config import validate_options
from ragdistill.errors import ConfigError

#: Default passage length in characters. MiniLM-style embedders read 256 word pieces;
#: English prose averages about 4 characters a piece, so 800 characters plus a title
#: stays under that limit and nothing is silently truncated.
DEFAULT_CHUNK_SIZE = 800
DEFAULT_CHUNK_OVERLAP = 100
#: A dataset with fewer documents is refused: there is nothing to retrieve or distill on.
MIN_DOCUMENTS = 1

L = TypeVar("L", bound="DatasetLoader")


@dataclass(frozen=True)
class Document:
    """One corpus document; ``title`` may be empty."""

    id: str
    title: str
    text: str

    def full_text(self) -> str:
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class Passage:
    """An embeddable piece of a document: ``id`` is unique, ``doc_id`` names its document."""

    id: str
    doc_id: str
    text: str


@dataclass
class RetrievalDataset:
    """Corpus, queries and qrels (``{query_id: {doc_id: grade}}``, grade > 0 is relevant).

    ``chunk_size=None`` keeps one passage per document (the embedder truncates it);
    otherwise :meth:`passages` splits documents as :func:`chunk_text` describes.

    For generation, ``answers`` holds gold answers per query where known, and
    ``sources`` the documents a query was written from, judged or not (a SQuAD
    question's paragraph); a query without ``sources`` falls back to its qrels.
    """

    name: str
    corpus: dict[str, Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)
    split: str = "test"
    chunk_size: int | None = DEFAULT_CHUNK_SIZE
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP
    answers: dict[str, list[str]] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.corpus) < MIN_DOCUMENTS:
            raise ConfigError(
                f"dataset {self.name!r} has {len(self.corpus)} documents, fewer than the "
                f"{MIN_DOCUMENTS} a dataset needs; check the files it was read from"
            )
        for doc_id, doc in self.corpus.items():
            if doc.id != doc_id:
                raise ConfigError(f"dataset {self.name!r}: corpus key {doc_id!r} holds {doc.id!r}")
        _check_chunking(self.chunk_size, self.chunk_overlap)
        for qid, judged in self.qrels.items():
            if qid not in self.queries:
                raise ConfigError(
                    f"dataset {self.name!r}: qrels name query {qid!r}, which is not in the "
                    "queries; drop it from the qrels or add the query"
                )
            unknown = [d for d in judged if d not in self.corpus]
            if unknown:
                raise ConfigError(
                    f"dataset {self.name!r}: qrels of query {qid!r} name documents not in the "
                    f"corpus ({', '.join(unknown[:3])}); keep relevant documents when subsetting"
                )
        for qid in [*self.answers, *self.sources]:
            if qid not in self.queries:
                raise ConfigError(
                    f"dataset {self.name!r}: answers or sources name query {qid!r}, which is "
                    "not in the queries"
                )

    @property
    def has_qrels(self) -> bool:
        return any(g > 0 for judged in self.qrels.values() for g in judged.values())

    def evaluable_query_ids(self) -> list[str]:
        """Queries with at least one relevant document, in query order."""
        return [q for q in self.queries if any(g > 0 for g in self.qrels.get(q, {}).values())]

    def source_documents(self, query_id: str) -> list[str]:
        """The documents ``query_id`` was written from: its ``sources``, else its relevant
        qrels, keeping those in the corpus (a subset may have dropped the others)."""
        found = self.sources.get(query_id)
        if found is None:
            found = [d for d, g in self.qrels.get(query_id, {}).items() if g > 0]
        return [d for d in found if d in self.corpus]

    def fingerprint(self) -> str:
        """sha256 of the content (corpus, queries, qrels, split, chunking); not of the name."""
        h = hashlib.sha256()
        for key in sorted(self.corpus):
            doc = self.corpus[key]
            _feed(h, "d", doc.id, doc.title, doc.text)
        for key in sorted(self.queries):
            _feed(h, "q", key, self.queries[key])
        for qid in sorted(self.qrels):
            for doc_id in sorted(self.qrels[qid]):
                _feed(h, "r", qid, doc_id, str(self.qrels[qid][doc_id]))
        _feed(h, "s", self.split, str(self.chunk_size), str(self.chunk_overlap))
        # Only when present: datasets without them keep the fingerprints they always had.
        for qid in sorted(self.answers):
            _feed(h, "a", qid, *self.answers[qid])
        for qid in sorted(self.sources):
            _feed(h, "o", qid, *self.sources[qid])
        return h.hexdigest()

    def with_chunking(self, chunk_size: int | None, chunk_overlap: int = 0) -> RetrievalDataset:
        """The same data, split into passages differently."""
        return replace(self, chunk_size=chunk_size, chunk_overlap=chunk_overlap)

    def passages(self) -> list[Passage]:
        """Every document's passages in corpus order; a passage repeats its document title.

        A document that fits one chunk keeps its id as the passage id; the chunks of a
        longer one are ``<doc id>#0``, ``<doc id>#1``, ...
        """
        out: list[Passage] = []
        seen: set[str] = set()
        for doc in self.corpus.values():
            if self.chunk_size is None:
                chunks = [doc.text]
            else:
                chunks = chunk_text(doc.text, self.chunk_size, self.chunk_overlap)
            for i, chunk in enumerate(chunks):
                pid = doc.id if len(chunks) == 1 else f"{doc.id}#{i}"
                if pid in seen:
                    raise ConfigError(
                        f"dataset {self.name!r}: passage id {pid!r} is not unique (a document "
                        "id already ends in '#<n>'); rename that document"
                    )
                seen.add(pid)
                text = f"{doc.title}\n{chunk}" if doc.title else chunk
                out.append(Passage(pid, doc.id, text))
        return out

    def texts_for_distillation(self, max_texts: int | None = None, seed: int = 0) -> list[str]:
        """Passage texts then query texts, deduplicated; a seeded sample if ``max_texts``.

        The sample keeps the original order, so the same arguments give the same list.
        """
        texts = list(dict.fromkeys([p.text for p in self.passages()] + list(self.queries.values())))
        texts = [t for t in texts if t.strip()]
        if max_texts is None or max_texts >= len(texts):
            return texts
        if max_texts < 1:
            raise ConfigError(f"max_texts must be >= 1, got {max_texts}")
        keep = sorted(random.Random(seed).sample(range(len(texts)), max_texts))
        return [texts[i] for i in keep]

    def subset(
        self,
        *,
        query_ids: Iterable[str] | None = None,
        max_queries: int | None = None,
        max_corpus: int | None = None,
        seed: int | None = None,
    ) -> RetrievalDataset:
        """A smaller dataset that stays consistent.

        Queries: ``query_ids`` if given, else all; then the first ``max_queries`` (or a
        seeded sample when ``seed`` is set). Corpus: every document judged for a kept
        query, then other documents in corpus order up to ``max_corpus``.
        """
        qids = list(self.queries) if query_ids is None else list(query_ids)
        missing = [q for q in qids if q not in self.queries]
        if missing:
            raise ConfigError(f"dataset {self.name!r} has no queries {', '.join(missing[:5])}")
        if max_queries is not None and max_queries < len(qids):
            if seed is None:
                qids = qids[:max_queries]
            else:
                keep = sorted(random.Random(seed).sample(range(len(qids)), max_queries))
                qids = [qids[i] for i in keep]
        qrels = {q: dict(self.qrels[q]) for q in qids if q in self.qrels}
        needed = {d for judged in qrels.values() for d in judged}
        doc_ids = [d for d in self.corpus if d in needed]
        if max_corpus is None:
            doc_ids = list(self.corpus)
        else:
            for d in self.corpus:
                if len(doc_ids) >= max_corpus:
                    break
                if d not in needed:
                    doc_ids.append(d)
            order = {d: i for i, d in enumerate(self.corpus)}
            doc_ids.sort(key=order.__getitem__)
        kept = set(qids)
        return replace(
            self,
            corpus={d: self.corpus[d] for d in doc_ids},
            queries={q: self.queries[q] for q in qids},
            qrels=qrels,
            answers={q: a for q, a in self.answers.items() if q in kept},
            sources={q: s for q, s in self.sources.items() if q in kept},
        )

    def stats(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "split": self.split,
            "documents": len(self.corpus),
            "queries": len(self.queries),
            "judged_queries": len(self.evaluable_query_ids()),
            "chunk_size": self.chunk_size,
            "chunk_overlap": self.chunk_overlap,
        }


class DatasetLoader(ABC):
    """Base of the dataset plugins: a typed ``__init__`` for options and :meth:`load`.

    Register a subclass with the ``register_datasets`` hook; a recipe's ``[data]``
    table is validated against the subclass's ``__init__`` by :meth:`from_options`.
    The built-in loaders run :mod:`ragdistill.data.checks` on what they read (undecodable
    bytes, repeated ids, very long texts); a plugin's loader may use them too.
    """

    options: dict[str, Any] = {}  # noqa: RUF012 (replaced per instance, never mutated)

    @classmethod
    def from_options(cls: type[L], options: Mapping[str, Any], *, where: str = "data") -> L:
        kwargs = validate_options(cls, options, where=where)
        loader = cls(**kwargs)
        loader.options = dict(kwargs)
        return loader

    @abstractmethod
    def load(self) -> RetrievalDataset:
        """Read the data and return it; raise :class:`ConfigError` on missing files."""

    def describe(self) -> dict[str, Any]:
        return {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "options": {k: str(v) if v is not None else None for k, v in self.options.items()},
        }


_PARAGRAPH = re.compile(r"\n\s*\n")


def chunk_text(text: str, chunk_size: int, chunk_overlap: int = 0) -> list[str]:
    """Split ``text`` into chunks of at most ``chunk_size`` characters.

    Paragraphs (blank-line separated) are packed whole into a chunk while they fit,
    so a chunk boundary falls between paragraphs where it can. A paragraph longer
    than ``chunk_size`` is cut into windows at word boundaries, consecutive windows
    sharing about ``chunk_overlap`` characters so no sentence is lost at a cut.
    """
    _check_chunking(chunk_size, chunk_overlap)
    paragraphs = [p.strip() for p in _PARAGRAPH.split(text) if p.strip()]
    if not paragraphs:
        return [text.strip()] if text.strip() else [""]
    chunks: list[str] = []
    current = ""
    for para in paragraphs:
        if len(para) > chunk_size:
            if current:
                chunks.append(current)
                current = ""
            chunks.extend(_windows(para, chunk_size, chunk_overlap))
        elif not current:
            current = para
        elif len(current) + 2 + len(para) <= chunk_size:
            current = f"{current}\n\n{para}"
        else:
            chunks.append(current)
            current = para
    if current:
        chunks.append(current)
    return chunks


def _windows(text: str, size: int, overlap: int) -> list[str]:
    out: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            cut = text.rfind(" ", start + size // 2, end)
            end = cut if cut > start else end
        out.append(text[start:end].strip())
        if end >= len(text):
            break
        nxt = max(end - overlap, start + 1)
        # Start the next window on a word boundary too.
        space = text.find(" ", nxt, end)
        start = space + 1 if overlap and space != -1 else nxt
    return [w for w in out if w]


def _check_chunking(chunk_size: int | None, chunk_overlap: int) -> None:
    if chunk_size is None:
        return
    if chunk_size < 32:
        raise ConfigError(
            f"chunk_size must be >= 32 characters (or None for whole documents), got {chunk_size}"
        )
    if not 0 <= chunk_overlap < chunk_size // 2:
        raise ConfigError(
            f"chunk_overlap must be >= 0 and less than half of chunk_size ({chunk_size}), "
            f"got {chunk_overlap}"
        )


def _feed(h: Any, tag: str, *parts: str) -> None:
    # Length-prefixed so ("ab", "c") and ("a", "bc") hash differently.
    h.update(tag.encode())
    for part in parts:
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
