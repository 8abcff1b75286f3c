"""BEIR-format folders: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ragdistill.datasets import DatasetLoader, Document, RetrievalDataset
from ragdistill.errors import ConfigError

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
    ) -> None:
        self.path = Path(path)
        self.unjudged_queries = unjudged_queries
        self.split = split
        self.max_corpus = max_corpus
        self.max_queries = max_queries
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        for name, value in (("max_corpus", max_corpus), ("max_queries", max_queries)):
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")

    def load(self) -> RetrievalDataset:
        corpus_file, queries_file, qrels_file = self._files()
        qrels = _read_qrels(qrels_file)
        queries: dict[str, str] = {}
        unjudged: dict[str, str] = {}
        for number, obj in read_json_lines(queries_file):
            qid = _field(obj, "_id", queries_file, number)
            if qid not in qrels:
                unjudged[qid] = str(obj.get("text", ""))
            elif self.max_queries is None or len(queries) < self.max_queries:
                queries[qid] = str(obj.get("text", ""))
        qrels = {q: qrels[q] for q in queries}
        if self.unjudged_queries:
            queries.update(unjudged)
        needed = {d for judged in qrels.values() for d in judged}
        corpus: dict[str, Document] = {}
        extra = 0
        for number, obj in read_json_lines(corpus_file):
            doc_id = _field(obj, "_id", corpus_file, number)
            if doc_id not in needed:
                if self.max_corpus is not None and len(needed) + extra >= self.max_corpus:
                    continue
                extra += 1
            corpus[doc_id] = Document(doc_id, str(obj.get("title") or ""), str(obj.get("text", "")))
        # qrels may judge documents absent from the corpus file; they cannot be retrieved.
        qrels = {q: {d: g for d, g in judged.items() if d in corpus} for q, judged in qrels.items()}
        return RetrievalDataset(
            name=f"beir:{self.path.name}",
            corpus=corpus,
            queries=queries,
            qrels=qrels,
            split=self.split,
            chunk_size=self.chunk_size,
            chunk_overlap=self.chunk_overlap,
        )

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


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            parts = line.rstrip("\n").split("\t")
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


def read_json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream ``(line_number, object)`` from a JSON-lines file, naming a bad line."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{path}:{number}: not UTF-8 text ({exc.reason} at column {exc.start}); "
                    "BEIR files are UTF-8 JSON lines: re-encode the file (e.g. iconv -t utf-8)"
                ) from None
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
