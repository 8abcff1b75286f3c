"""A folder of plain-text or Markdown files as a corpus, with optional queries."""

from __future__ import annotations

import codecs
from pathlib import Path

from ragdistill.data.checks import Decoder, EncodingErrors, check_max_chars, finish
from ragdistill.datasets import (
    DEFAULT_CHUNK_OVERLAP,
    DEFAULT_CHUNK_SIZE,
    MIN_DOCUMENTS,
    DatasetLoader,
    Document,
    RetrievalDataset,
)
from ragdistill.errors import ConfigError

QUERIES_FILE = "queries.txt"


class TextFolderDataset(DatasetLoader):
    """Every file under ``path`` matching ``pattern`` is one document.

    ``pattern`` holds one or more globs separated by ``|``. A document's id is its
    path relative to the folder and its title the file name without suffix. Documents
    are split into passages of ``chunk_size`` characters at paragraph boundaries
    (see :func:`ragdistill.datasets.chunk_text`). An optional ``queries.txt`` at the
    top of the folder gives one query per line (ids ``q1``, ``q2``...); there are no
    relevance judgements, so an A/B on such a folder reports ranking agreement only.
    Such a folder is also a corpus of texts to distill on.

    A file that is not ``encoding`` text is refused, naming its line and byte, unless
    ``encoding_errors="replace"``; a folder whose files are all empty is refused.
    ``max_chars`` cuts every text to that many characters.
    """

    def __init__(
        self,
        path: Path,
        pattern: str = "**/*.txt|**/*.md",
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
        chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
        encoding: str = "utf-8",
        encoding_errors: EncodingErrors = "strict",
        max_chars: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.patterns = [p.strip() for p in pattern.split("|") if p.strip()]
        if not self.patterns:
            raise ConfigError(f"pattern {pattern!r} holds no glob; e.g. '**/*.txt|**/*.md'")
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ConfigError(
                f"encoding {encoding!r} is unknown; e.g. 'utf-8' or 'latin-1'"
            ) from None
        self.encoding = encoding
        self.encoding_errors = encoding_errors
        self.max_chars = max_chars
        check_max_chars(max_chars)

    def load(self) -> RetrievalDataset:
        if not self.path.is_dir():
            raise ConfigError(
                f"text folder {self.path} does not exist; point it at a folder of "
                f"{' or '.join(self.patterns)} files (and an optional {QUERIES_FILE})"
            )
        queries_path = self.path / QUERIES_FILE
        files = sorted(
            {f for pattern in self.patterns for f in self.path.glob(pattern) if f.is_file()}
            - {queries_path}
        )
        if not files:
            raise ConfigError(
                f"text folder {self.path} has no file matching {'|'.join(self.patterns)}; "
                "add .txt/.md files or pass another pattern"
            )
        decoder = Decoder(
            self.encoding_errors,
            self.encoding,
            unit="file",
            fix="set encoding to the files' encoding in [data], narrow the pattern",
        )
        corpus: dict[str, Document] = {}
        for file in files:
            doc_id = file.relative_to(self.path).as_posix()
            text = _newlines(decoder.decode(file.read_bytes(), file))
            if text.strip():
                corpus[doc_id] = Document(doc_id, file.stem, text)
        queries: dict[str, str] = {}
        if queries_path.is_file():
            lines = _newlines(decoder.decode(queries_path.read_bytes(), queries_path)).splitlines()
            queries = {f"q{i}": line.strip() for i, line in enumerate(lines, 1) if line.strip()}
        decoder.report()
        if len(corpus) < MIN_DOCUMENTS:
            raise ConfigError(
                f"text folder {self.path}: its {len(files)} files matching "
                f"{'|'.join(self.patterns)} are all empty (a dataset needs at least "
                f"{MIN_DOCUMENTS} document with text); add text or pass another pattern"
            )
        dataset = RetrievalDataset(
            name=f"text-folder:{self.path.name}",
            corpus=corpus,
            queries=queries,
            qrels={},
            split="all",
            chunk_size=self.chunk_size,
            chunk_overlap=self.chunk_overlap,
        )
        return finish(dataset, self.path, self.max_chars)


def _newlines(text: str) -> str:
    """``\\r\\n`` and ``\\r`` as ``\\n``, as reading in text mode does."""
    return text.replace("\r\n", "\n").replace("\r", "\n")
