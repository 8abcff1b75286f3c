"""BEIR-format folders: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ragdistill.data.checks import (
    Decoder,
    DuplicateIds,
    EncodingErrors,
    UniqueIds,
    check_max_chars,
    finish,
)
from ragdistill.datasets import MIN_DOCUMENTS, DatasetLoader, Document, RetrievalDataset
from ragdistill.errors import ConfigError

log = logging.getLogger(__name__)

LAYOUT = (
    'a BEIR folder holds corpus.jsonl (lines {"_id", "title", "text"}), queries.jsonl '
    '(lines {"_id", "text"}) and qrels/<split>.tsv (header row, then '
    "query-id<TAB>corpus-id<TAB>score)"
)


class BeirDataset(DatasetLoader):
    """A BEIR dataset folder (SciFact, NFCorpus, FiQA...), read as a stream.

    Queries judged in ``qrels/<split>.tsv`` are evaluated (the BEIR convention).
    ``unjudged_queries=True`` also keeps the other queries, unjudged: never evaluated,
    they are in-domain text a distillation can train on (SciFact's 809 train queries).
    ``max_queries`` keeps the first judged queries in file order; ``max_corpus`` keeps
    every document judged for them, then other documents in file order up to that
    many. ``chunk_size=None`` (the default) embeds each abstract whole, as BEIR does.

    Bad input is refused, one line naming the file: bytes that are not UTF-8 (unless
    ``encoding_errors="replace"``), a repeated query or document id (unless
    ``duplicate_ids="keep-first"``), an empty corpus, and qrels that leave no query with
    a relevant document. Judgements naming unknown ids are ignored with a warning.
    ``max_chars`` cuts every text to that many characters (see
    :func:`ragdistill.data.checks.finish`).
    """

    def __init__(
        self,
        path: Path,
        split: str = "test",
        max_corpus: int | None = None,
        max_queries: int | None = None,
        chunk_size: int | None = None,
        chunk_overlap: int = 0,
        unjudged_queries: bool = False,
        encoding_errors: EncodingErrors = "strict",
        duplicate_ids: DuplicateIds = "error",
        max_chars: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.unjudged_queries = unjudged_queries
        self.split = split
        self.max_corpus = max_corpus
        self.max_queries = max_queries
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.encoding_errors = encoding_errors
        self.duplicate_ids = duplicate_ids
        self.max_chars = max_chars
        for name, value in (("max_corpus", max_corpus), ("max_queries", max_queries)):
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        check_max_chars(max_chars)

    def load(self) -> RetrievalDataset:
        corpus_file, queries_file, qrels_file = self._files()
        decoder = Decoder(self.encoding_errors)
        judgements = _read_qrels(qrels_file, decoder)
        query_ids = UniqueIds(queries_file, "query", self.duplicate_ids)
        queries: dict[str, str] = {}
        unjudged: dict[str, str] = {}
        for number, obj in read_json_lines(queries_file, decoder):
            qid = _field(obj, "_id", queries_file, number)
            if not query_ids.first(qid):
                continue
            if qid not in judgements:
                unjudged[qid] = str(obj.get("text", ""))
            elif self.max_queries is None or len(queries) < self.max_queries:
                queries[qid] = str(obj.get("text", ""))
        query_ids.finish()
        qrels = {q: judgements[q] for q in queries}
        if self.unjudged_queries:
            queries.update(unjudged)
        needed = {d for judged in qrels.values() for d in judged}
        doc_ids = UniqueIds(corpus_file, "document", self.duplicate_ids)
        corpus: dict[str, Document] = {}
        extra = 0
        for number, obj in read_json_lines(corpus_file, decoder):
            doc_id = _field(obj, "_id", corpus_file, number)
            if not doc_ids.first(doc_id):
                continue
            if doc_id not in needed:
                if self.max_corpus is not None and len(needed) + extra >= self.max_corpus:
                    continue
                extra += 1
            corpus[doc_id] = Document(doc_id, str(obj.get("title") or ""), str(obj.get("text", "")))
        doc_ids.finish()
        decoder.report()
        if not corpus:
            raise ConfigError(
                f"{corpus_file} holds no documents (a dataset needs at least {MIN_DOCUMENTS}); "
                f"{LAYOUT}"
            )
        # Judgements of documents absent from the corpus file cannot be retrieved.
        qrels = {q: {d: g for d, g in judged.items() if d in corpus} for q, judged in qrels.items()}
        dataset = RetrievalDataset(
            name=f"beir:{self.path.name}",
            corpus=corpus,
            queries=queries,
            qrels=qrels,
            split=self.split,
            chunk_size=self.chunk_size,
            chunk_overlap=self.chunk_overlap,
        )
        _check_judgements(dataset, judgements, query_ids, doc_ids, qrels_file)
        return finish(dataset, self.path, self.max_chars)

    def _files(self) -> tuple[Path, Path, Path]:
        if not self.path.is_dir():
            raise ConfigError(f"BEIR folder {self.path} does not exist; {LAYOUT}")
        files = (
            self.path / "corpus.jsonl",
            self.path / "queries.jsonl",
            self.path / "qrels" / f"{self.split}.tsv",
        )
        missing = [str(f.relative_to(self.path)) for f in files if not f.is_file()]
        if missing:
            splits = sorted(p.stem for p in (self.path / "qrels").glob("*.tsv"))
            have = f" (qrels splits present: {', '.join(splits)})" if splits else ""
            raise ConfigError(f"BEIR folder {self.path} lacks {', '.join(missing)}{have}; {LAYOUT}")
        return files


def _check_judgements(
    dataset: RetrievalDataset,
    qrels: dict[str, dict[str, int]],
    query_ids: UniqueIds,
    doc_ids: UniqueIds,
    path: Path,
) -> None:
    """Refuse a dataset left with no judged query; warn about judgements of unknown ids."""
    rows = sum(len(judged) for judged in qrels.values())
    no_query = sum(len(judged) for q, judged in qrels.items() if q not in query_ids)
    no_doc = sum(d not in doc_ids for q, judged in qrels.items() if q in query_ids for d in judged)
    counts = (
        f"{no_query} of its {rows} judgements name queries not in "
        f"{Path(query_ids.path).name}, {no_doc} name documents not in {Path(doc_ids.path).name}"
    )
    if not dataset.evaluable_query_ids():
        raise ConfigError(
            f"{path} leaves no query with a relevant document ({counts}); the three files "
            "must use the same ids: check the split and the id columns"
        )
    if no_query or no_doc:
        log.warning("%s: %s; those judgements are ignored, so scores leave them out", path, counts)


def _read_qrels(path: Path, decoder: Decoder) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    offset = 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            line = decoder.decode(raw, path, line=number, offset=offset)
            offset += len(raw)
            parts = line.rstrip("\r\n").split("\t")
            if not line.strip():
                continue
            if number == 1 and parts[0].strip().lower() in ("query-id", "query_id", "qid"):
                continue
            if len(parts) == 4:  # TREC style: qid, iteration, doc, grade
                parts = [parts[0], parts[2], parts[3]]
            if len(parts) != 3:
                raise ConfigError(f"{path}:{number}: expected query-id, corpus-id, score")
            try:
                grade = int(float(parts[2]))
            except ValueError:
                raise ConfigError(f"{path}:{number}: score {parts[2]!r} is not a number") from None
            qrels.setdefault(parts[0], {})[parts[1]] = grade
    return qrels


def read_json_lines(
    path: Path, decoder: Decoder | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream ``(line_number, object)`` from a JSON-lines file, naming a bad line.

    ``decoder`` decodes each line (default: strict UTF-8).
    """
    decoder = decoder or Decoder()
    offset = 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            line = decoder.decode(raw, path, line=number, offset=offset)
            offset += len(raw)
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ConfigError(f"{path}:{number}: expected one JSON object per line")
            yield number, obj


def _field(obj: dict[str, Any], key: str, path: Path, number: int) -> str:
    if key not in obj:
        raise ConfigError(f"{path}:{number}: missing {key!r}; {LAYOUT}")
    return str(obj[key])
