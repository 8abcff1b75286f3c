"""Reading search queries (and HyDE passages) out of an LLM's free-text reply.

Models asked for "q1 ||| q2 ||| q3" or "one query per line, nothing else" still number
them, bullet them, quote them, label them ("Question:", "**Rewritten query:**") or open
with "Here are 3 queries:"; small ones answer ("Answer: ...") or copy their instruction.
These functions undo all of that and skip such lines; they never invent text. Queries are
separated by ``|||`` (:data:`SEPARATOR`, the format the distilled students are trained
to write) or by line breaks, whichever the reply uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from ragdistill.contracts import QueryRequest

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
# "3.5 mm jack" and "10:30 train" start with numbers, not list numbering.
_BULLET = re.compile(r"^\s*(?:[-*•·‣▪◦+>]+\s+|\(?\d{1,3}\s*[.):\]](?!\d)\s*|#+\s+)")
# A label before the query: "Question:", "Rewritten query:", "**Search queries**:", "The
# standalone question is:", "user:". Markdown emphasis may wrap the label or its colon.
_LABEL = re.compile(
    r"^[*_]{0,2}(?:(?:the|a|an|my|your|rewritten|rephrased|reformulated|revised|clarified|"
    r"complete|full|stand-?alone|self-?contained|search|alternative|alternate|new|final|"
    r"improved|expanded|better|original|follow-?up)\s+)*"
    r"(?:(?:search\s+)?(?:quer(?:y|ies)|questions?|q|follow-?ups?(?:\s+questions?)?)|"
    r"search\s+terms|rewrite|rewritten|rephrasing|reformulation|keywords|user|assistant)"
    r"(?:\s*#?\d+)?(?:\s+(?:is|are))?\s*[*_]{0,2}\s*:\s*[*_]{0,2}\s*",
    re.IGNORECASE,
)
# "Answer: ..." (or "A: ...") is the model answering: never a query.
_ANSWER = re.compile(r"^[*_]{0,2}(?:the\s+)?(?:answer|response|a)\s*[*_]{0,2}\s*:", re.I)
# "Sure, here are..." is chatter; "Sure Start centres funding" is a query.
_PREAMBLE = re.compile(
    r"^(?:here (?:are|is)\b|(?:sure|certainly|okay|ok)\b\s*(?:[,.!:]|$|(?:here|i|this)\b))",
    re.IGNORECASE,
)
_PASSAGE_LABEL = re.compile(
    r"^(?:(?:hypothetical|short|example)\s+)*(?:passage|document|answer)\s*:\s*", re.IGNORECASE
)
# A tokenizer may decode "|||" with spaces between the bars.
_SPLIT = re.compile(r"\|\s*\|\s*\|")
#: Between two queries of an expansion, as the students write it.
SEPARATOR = " ||| "
_WORD = re.compile(r"\w+")
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "`": "`", "„": "“"}


def clean_line(line: str) -> str:
    """One reply line without its bullet, number, label, emphasis or surrounding quotes."""
    text = line.strip()
    for _ in range(3):  # "1. **Query:** "x"" peels in layers
        before = text
        text = _BULLET.sub("", text, count=1).strip()
        text = text.strip("*").strip()
        text = _LABEL.sub("", text, count=1).strip()
        text = text.strip("*").strip()
        text = _unquote(text)
        if text == before:
            break
    return text


Drop = Callable[[str], bool]


def parse_rewrite(reply: str, *, drop: Drop | None = None) -> list[str]:
    """The first usable line of a reply: the stand-alone query (or nothing). A cleaned
    line for which ``drop`` is true is not usable (see :func:`opens_with_words_of`)."""
    for line in _lines(reply):
        if _is_query(line) and not (drop and drop(line)):
            return [line]
    return []


def parse_queries(reply: str, limit: int, *, drop: Drop | None = None) -> list[str]:
    """Up to ``limit`` distinct queries, one per line of the reply, in order."""
    seen: set[str] = set()
    queries: list[str] = []
    for line in _lines(reply):
        key = " ".join(line.lower().split())
        if not _is_query(line) or key in seen or (drop and drop(line)):
            continue
        seen.add(key)
        queries.append(line)
        if len(queries) == limit:
            break
    return queries


def parse_passage(reply: str) -> str:
    """A HyDE passage: the reply without thinking, a "Passage:" label or outer quotes,
    its lines joined by spaces ("" when nothing is left)."""
    text = _THINK.sub("", reply).strip()
    text = _PASSAGE_LABEL.sub("", text, count=1)
    return _unquote(" ".join(text.split()))


def opens_with_words_of(text: str, words: int = 4) -> Drop:
    """Whether a line opens with ``words`` consecutive words of ``text``: a small model
    that copies its instruction ("The question above may be a follow-up...") instead of
    following it. Case, punctuation and numbers (a template's ``{n}``) are ignored."""
    haystack = f" {' '.join(_words(text))} "

    def copied(line: str) -> bool:
        opening = _words(line)[:words]
        return len(opening) == words and f" {' '.join(opening)} " in haystack

    return copied


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if not w.isdigit()]


def join_queries(queries: list[str]) -> str:
    """The canonical form of an expansion, parsed back by :func:`parse_queries`."""
    return SEPARATOR.join(" ".join(q.replace("|||", " ").split()) for q in queries)


def _lines(reply: str) -> list[str]:
    # Reasoning models served behind compatible APIs may leave their thinking inline.
    text = _THINK.sub("", reply)
    parts = [piece for raw in text.splitlines() for piece in _SPLIT.split(raw)]
    return [cleaned for raw in parts if not _is_answer(raw) and (cleaned := clean_line(raw))]


def _is_answer(line: str) -> bool:
    return bool(_ANSWER.match(_BULLET.sub("", line.strip(), count=1).strip()))


def _is_query(line: str) -> bool:
    return not line.endswith(":") and not (_PREAMBLE.match(line) and len(line.split()) > 2)


def _unquote(text: str) -> str:
    while len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        text = text[1:-1].strip()
    # A lone quote left on one side (a quote split across lines) goes too.
    if text[:1] in {'"', "“", "„", "«"} and text.count(text[0]) == 1:
        text = text[1:].strip()
    if text[-1:] in {'"', "”", "»"} and text.count(text[-1]) == 1:
        text = text[:-1].strip()
    return text


Task = Literal["auto", "rewrite", "expand", "hyde"]
TASKS: tuple[Task, ...] = ("auto", "rewrite", "expand", "hyde")


class TaskedQueries:
    """What a prompted query transformer's ``task`` means for one request (a mixin).

    ``"auto"`` rewrites when one query is requested and expands otherwise; ``"expand"``
    always writes ``num_queries`` alternatives (the number a student was trained on);
    ``"hyde"`` writes one passage to embed instead of the query.
    """

    task: Task
    num_queries: int

    def instruction_text(self, task: str) -> str:
        """The fixed words of ``task``'s prompt ("" for none): a reply line that opens with
        four of them in a row copies the instruction instead of following it, and is
        dropped (nothing left: the contract keeps the query as typed)."""
        return ""

    def task_of(self, req: QueryRequest) -> str:
        """What ``req`` asks of this transformer: rewrite, expand or hyde."""
        if self.task != "auto":
            return self.task
        return "rewrite" if req.num_queries == 1 else "expand"

    def count_of(self, req: QueryRequest) -> int:
        """How many alternatives an expansion of ``req`` asks for."""
        return self.num_queries if self.task == "expand" else req.num_queries

    def parse(self, text: str, req: QueryRequest) -> list[str]:
        """The queries (or the passage) in the model's reply to ``req``; [] when none."""
        task = self.task_of(req)
        if task == "hyde":
            passage = parse_passage(text)
            return [passage] if passage else []
        fixed = self.instruction_text(task)
        drop = opens_with_words_of(fixed) if fixed.strip() else None
        if task == "rewrite":
            return parse_rewrite(text, drop=drop)
        return parse_queries(text, self.count_of(req), drop=drop)
