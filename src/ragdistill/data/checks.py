"""Checks the built-in loaders run on what they read: undecodable bytes, repeated ids and
very long texts. A plugin's loader may use them too.

A refusal is one :class:`ConfigError` line naming the file and the ``[data]`` option that
relaxes it; what an option lets through is reported with counts on the ``logging``
warning channel, as the rest of ragdistill reports.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Literal

from ragdistill.datasets import RetrievalDataset
from ragdistill.errors import ConfigError

log = logging.getLogger(__name__)

#: ``encoding_errors``: refuse undecodable bytes, or replace them with U+FFFD.
EncodingErrors = Literal["strict", "replace"]
#: ``duplicate_ids``: refuse a repeated id, or keep its first record and skip the others.
DuplicateIds = Literal["error", "keep-first"]

#: Texts longer than this are reported. Embedders read at most a few thousand
#: characters (512 word pieces are about 2,000), so the rest costs tokenising time only.
LONG_TEXT_CHARS = 100_000


class Decoder:
    """Decodes the bytes of data files: ``"strict"`` names the first undecodable byte,
    ``"replace"`` substitutes U+FFFD and counts what it replaced for :meth:`report`.

    ``unit`` is what one :meth:`decode` call reads ("line" or "file"), for the report;
    ``fix`` is what the refusal suggests besides ``encoding_errors``.
    """

    def __init__(
        self,
        errors: EncodingErrors = "strict",
        encoding: str = "utf-8",
        *,
        unit: str = "line",
        fix: str = "re-encode the file (e.g. iconv -f latin1 -t utf-8)",
    ) -> None:
        self.errors = errors
        self.encoding = encoding
        self.unit = unit
        self.fix = fix
        self.replaced: dict[str, int] = {}  # file -> lines (or 1 for a whole file)

    def decode(self, data: bytes, path: Path, *, line: int = 1, offset: int = 0) -> str:
        """``data`` as text; ``line`` and ``offset`` say where its first byte is in ``path``."""
        try:
            return data.decode(self.encoding)
        except UnicodeDecodeError as exc:
            if self.errors == "replace":
                self.replaced[str(path)] = self.replaced.get(str(path), 0) + 1
                return data.decode(self.encoding, errors="replace")
            line += data.count(b"\n", 0, exc.start)
            raise ConfigError(
                f"{path}:{line}: byte {offset + exc.start} (0x{data[exc.start]:02x}) is not "
                f'{self.encoding} ({exc.reason}); {self.fix}, or set encoding_errors = "replace" '
                "in [data] to replace undecodable bytes with U+FFFD"
            ) from None

    def report(self) -> None:
        """Warn once about everything replaced so far."""
        if not self.replaced:
            return
        total = sum(self.replaced.values())
        files = ", ".join(f"{p} ({n})" for p, n in list(self.replaced.items())[:3])
        more = ", ..." if len(self.replaced) > 3 else ""
        log.warning(
            'replaced undecodable %s bytes with U+FFFD in %d %s(s) (encoding_errors = "replace"): '
            "%s%s",
            self.encoding, total, self.unit, files, more,
        )  # fmt: skip


class UniqueIds:
    """The ids read from one file. A repeated id is refused (``"error"``, when
    :meth:`finish` is called) or its later records skipped (``"keep-first"``, reported)."""

    def __init__(self, path: Path | str, what: str, policy: DuplicateIds = "error") -> None:
        self.path = path
        self.what = what
        self.policy = policy
        self.seen: set[str] = set()
        self.repeats: dict[str, int] = {}  # id -> records after its first

    def __contains__(self, key: object) -> bool:
        return key in self.seen

    def first(self, key: str) -> bool:
        """Whether ``key`` is new; the caller skips a record whose id is not."""
        if key in self.seen:
            self.repeats[key] = self.repeats.get(key, 0) + 1
            return False
        self.seen.add(key)
        return True

    def finish(self) -> None:
        """Refuse or report the repeated ids; call once the whole file is read."""
        if not self.repeats:
            return
        names = ", ".join(repr(k) for k in list(self.repeats)[:5])
        names += ", ..." if len(self.repeats) > 5 else ""
        skipped = sum(self.repeats.values())
        if self.policy == "error":
            raise ConfigError(
                f"{self.path} repeats {len(self.repeats)} {self.what} ids ({names}) in {skipped} "
                "later records, which would replace the first: make the ids unique, or set "
                'duplicate_ids = "keep-first" in [data] to keep the first record of each'
            )
        log.warning(
            '%s repeats %d %s ids (%s): kept the first record of each, skipped %d later '
            'records (duplicate_ids = "keep-first")',
            self.path, len(self.repeats), self.what, names, skipped,
        )  # fmt: skip


def check_max_chars(max_chars: int | None) -> None:
    if max_chars is not None and max_chars < 1:
        raise ConfigError(f"max_chars must be >= 1 (or unset to keep whole texts), got {max_chars}")


def finish(
    dataset: RetrievalDataset, source: Path | str, max_chars: int | None
) -> RetrievalDataset:
    """``dataset`` with texts cut to ``max_chars`` characters, after warning about texts
    longer than :data:`LONG_TEXT_CHARS` (read from ``source``)."""
    if max_chars is not None:
        cut = sum(len(d.text) > max_chars for d in dataset.corpus.values())
        cut += sum(len(q) > max_chars for q in dataset.queries.values())
        if cut:
            log.info("%s: cut %d texts to max_chars = %d characters", source, cut, max_chars)
            dataset = replace(
                dataset,
                corpus={k: replace(d, text=d.text[:max_chars]) for k, d in dataset.corpus.items()},
                queries={k: q[:max_chars] for k, q in dataset.queries.items()},
            )
    _warn_long(dataset, source)
    return dataset


def _warn_long(dataset: RetrievalDataset, source: Path | str) -> None:
    docs = {k: len(d.text) for k, d in dataset.corpus.items() if len(d.text) > LONG_TEXT_CHARS}
    queries = {k: len(q) for k, q in dataset.queries.items() if len(q) > LONG_TEXT_CHARS}
    fix = "set max_chars in [data] (e.g. max_chars = 20000) to cut them when loading"
    if docs:
        longest = max(docs, key=docs.__getitem__)
        if dataset.chunk_size is None:
            fate = (
                "they are embedded whole (chunk_size unset): each is tokenised in full, then "
                "truncated to the model's max_seq_length"
            )
        else:
            step = dataset.chunk_size - dataset.chunk_overlap
            fate = f"the longest splits into about {docs[longest] // step:,} passages"
        log.warning(
            "%s: %d of %d documents are longer than %s characters (longest %r: %s); %s; %s",
            source, len(docs), len(dataset.corpus), f"{LONG_TEXT_CHARS:,}", longest,
            f"{docs[longest]:,}", fate, fix,
        )  # fmt: skip
    if queries:
        longest = max(queries, key=queries.__getitem__)
        log.warning(
            "%s: %d of %d queries are longer than %s characters (longest %r: %s); each is "
            "tokenised in full, then truncated to the model's max_seq_length; %s",
            source, len(queries), len(dataset.queries), f"{LONG_TEXT_CHARS:,}", longest,
            f"{queries[longest]:,}", fix,
        )  # fmt: skip
