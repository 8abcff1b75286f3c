"""Query examples from a retrieval dataset: conversations (rewrite) or plain queries.

Evaluated examples come from the dataset's judged queries; training examples from its
unjudged ones whose documents share no group (a SQuAD article, see
:mod:`ragdistill.data.splits`) with an evaluated one. Nothing is hand-written.

For conversational rewrite, a question becomes the last turn of a conversation whose
history is the questions asked before it about the same passage (SQuAD lists a
paragraph's questions in order). The teacher turns it into a follow-up that relies on
that history (:data:`FOLLOW_UP_PROMPT`); the original question is the gold stand-alone
rewrite, and its passage the retrieval target.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ragdistill.contracts import Message, QueryRequest
from ragdistill.datasets import RetrievalDataset
from ragdistill.errors import ConfigError
from ragdistill.query_parsing import parse_rewrite
from ragdistill.stages.query_transformer.options import ConversationSpec

#: What the teacher is asked to turn a stand-alone question into a follow-up.
FOLLOW_UP_PROMPT = (
    "Rewrite the user's next question as a follow-up in this conversation: replace "
    '"{reference}" with a pronoun such as "it", "they", "he", "she" or "this", or leave it '
    "out, so the question only makes sense after the conversation. Change nothing else. "
    "Reply with the follow-up question only.\n\n"
    "Example\nConversation:\nuser: Where was Nikola Tesla born?\nassistant: Smiljan\n"
    'Next question: When did Nikola Tesla move to the United States? (replace "Nikola '
    'Tesla")\nFollow-up: When did he move to the United States?\n\n'
    'Conversation:\n{history}\nNext question: {question} (replace "{reference}")\n'
    "Follow-up:"
)
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "and",
        "or",
        "is",
        "was",
        "were",
        "are",
        "be",
        "been",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "did",
        "does",
        "do",
        "has",
        "have",
        "had",
        "that",
        "this",
        "these",
        "those",
        "it",
        "its",
        "as",
        "than",
        "then",
        "into",
        "about",
        "after",
        "before",
        "during",
        "over",
        "under",
    ]
)
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class QueryExample:
    """One query to transform and what retrieval should find for it.

    ``query`` is what the user typed (a follow-up, for a conversation), ``history`` the
    turns before it, ``targets`` the relevant documents and their grades, ``gold`` the
    stand-alone question when one is known (the ceiling arm).
    """

    id: str
    query: str
    targets: dict[str, int]
    history: tuple[Message, ...] = ()
    gold: str | None = None
    group: str = ""
    original: str = field(default="", compare=False)

    def request(self, num_queries: int = 1) -> QueryRequest:
        return QueryRequest(self.query, self.history, num_queries)


def targets_of(dataset: RetrievalDataset, qid: str) -> dict[str, int]:
    """The documents a query should retrieve: its judgements, else its source documents."""
    judged = {d: g for d, g in dataset.qrels.get(qid, {}).items() if g > 0}
    return judged or dict.fromkeys(dataset.source_documents(qid), 1)


def plain_examples(
    dataset: RetrievalDataset, ids: Sequence[str], *, need_targets: bool = True
) -> list[QueryExample]:
    """Queries as they are (expansion and HyDE): one example each, history-free. Training
    needs no targets (``need_targets=False``): the teacher's output is the label, so
    BEIR's unjudged queries train."""
    out = []
    for qid in ids:
        text = dataset.queries[qid].strip()
        targets = targets_of(dataset, qid)
        if text and (targets or not need_targets):
            out.append(QueryExample(qid, text, targets, original=text))
    return out


def conversation_candidates(
    dataset: RetrievalDataset, ids: Sequence[str], spec: ConversationSpec
) -> list[QueryExample]:
    """Questions of ``ids`` with earlier questions about the same passage, each with its
    history (``query`` still the stand-alone question: the teacher writes the follow-up)."""
    if not dataset.sources:
        raise ConfigError(
            f"dataset {dataset.name!r} does not say which passage each question was written "
            'from, which conversations need; use task = "expand" or "hyde" with it, or a '
            "dataset with sources (squad, tau2)"
        )
    earlier: dict[str, list[str]] = {}
    before: dict[str, list[str]] = {}
    for qid in dataset.queries:  # file order: a passage's questions in the order asked
        docs = dataset.source_documents(qid)
        if len(docs) != 1:
            continue
        before[qid] = list(earlier.get(docs[0], []))
        earlier.setdefault(docs[0], []).append(qid)
    out = []
    for qid in ids:
        previous = before.get(qid, [])[-spec.turns :]
        if not previous:
            continue
        history: list[Message] = []
        for pid in previous:
            history.append(Message("user", dataset.queries[pid].strip()))
            answers = dataset.answers.get(pid) or []
            if spec.answers and answers:
                history.append(Message("assistant", answers[0].strip()))
        question = dataset.queries[qid].strip()
        docs = dataset.source_documents(qid)
        group = dataset.corpus[docs[0]].title or docs[0]
        out.append(
            QueryExample(qid, question, {docs[0]: 1}, tuple(history), question, group, question)
        )
    return out


def shared_reference(question: str, history: str) -> str | None:
    """The longest phrase of ``question`` the conversation already names (a name, most
    often): what a follow-up would replace with a pronoun. None when there is none."""
    words = question.rstrip("?").split()
    said = " " + " ".join(_WORD.findall(history.lower())) + " "
    for n in range(min(6, len(words)), 0, -1):
        for start in range(len(words) - n + 1):
            gram = [w.strip(".,;:'\"()") for w in words[start : start + n]]
            if not all(gram) or gram[0].lower() in _STOP or gram[-1].lower() in _STOP:
                continue
            if not any(w[0].isupper() or w[0].isdigit() for w in gram) and n < 2:
                continue
            if f" {' '.join(_WORD.findall(' '.join(gram).lower()))} " in said:
                return " ".join(gram)
    return None


def rule_follow_up(question: str, reference: str) -> str:
    """``question`` leaning on the conversation by rule: after "what"/"which" the
    ``reference`` is left out ("What ABC comedy" -> "What comedy"); before another word
    "the reference" becomes "this" ("the DFDS ferry" -> "this ferry"); elsewhere it
    becomes "it" ("its" when possessive, a leading "the" dropped), or "they" for a name of
    several capitalised words. Crude, like a hurried user; the gold question is intact."""
    words = question.split()
    ref = reference.split()
    for i in range(len(words) - len(ref) + 1):
        if [w.strip(".,;:'\"()?") for w in words[i : i + len(ref)]] != ref:
            continue
        end = i + len(ref)
        last, after = words[end - 1], words[end] if end < len(words) else ""
        tail = last[len(last.rstrip('.,;:"()?')) :]
        before = words[i - 1].lower() if i else ""
        modifier = bool(after) and after[0].islower() and after.lower() not in _STOP
        start = i
        if last.rstrip('.,;:"()?').endswith("'s"):
            new = ["its" + tail]
            start = i - 1 if before == "the" else i
        elif modifier and before in ("what", "which"):
            new = [tail] if tail else []
        elif modifier and before == "the":
            new, start = ["this"], i - 1
        elif len(ref) > 1 and all(w[:1].isupper() for w in ref) and before != "the":
            new = ["they" + tail]  # most often a person's full name
        else:
            new = ["it" + tail]
            start = i - 1 if before == "the" else i
        text = " ".join(w for w in [*words[:start], *new, *words[end:]] if w)
        return text[:1].upper() + text[1:]
    return question


def follow_up_instruction(example: QueryExample, reference: str) -> str:
    """The teacher's instruction to turn ``example``'s question into a follow-up that
    replaces ``reference`` (see :func:`shared_reference`)."""
    transcript = "\n".join(f"{m.role}: {m.content}" for m in example.history)
    return FOLLOW_UP_PROMPT.format(history=transcript, question=example.original,
                                   reference=reference)  # fmt: skip


def leans_on(follow: str, original: str, history: str) -> bool:
    """Whether ``follow`` dropped a word of ``original`` that the conversation supplies,
    i.e. it needs the conversation to be understood."""
    said = {w for w in _WORD.findall(history.lower()) if len(w) > 2 and w not in _STOP}
    kept = set(_WORD.findall(follow.lower()))
    return any(w in said and w not in kept for w in _WORD.findall(original.lower()))


def follow_up(reply: str, original: str, history: str = "") -> tuple[str | None, str]:
    """``(follow-up, verdict)``: the question in the teacher's reply, or None and why
    (``"empty"``, ``"not_a_question"``, ``"unchanged"``, ``"stands_alone"`` when it drops
    nothing the ``history`` says, ``"too_long"``)."""
    found = parse_rewrite(reply)
    if not found:
        return None, "empty"
    text = found[0]
    if not text.endswith("?") or len(_WORD.findall(text)) < 2:
        return None, "not_a_question"
    if _WORD.findall(text.lower()) == _WORD.findall(original.lower()):
        return None, "unchanged"
    if not leans_on(text, original, history):
        return None, "stands_alone"
    if len(text) > 2 * len(original) + 20:
        return None, "too_long"
    return text, "ok"
