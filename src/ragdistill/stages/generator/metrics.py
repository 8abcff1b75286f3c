"""Answer metrics of the generator A/B: SQuAD's exact match and token F1, groundedness,
abstention and length. Pure functions of strings; no model, no tokenizer.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence

from ragdistill.stages.generator.examples import Context

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")

#: Replies that refuse when they *start* a normalised answer. Kept short and
#: conservative: "I don't know who won" refuses; "Paris; the context does not say
#: when" is an answer, and is not counted.
REFUSAL_STARTS: tuple[str, ...] = (
    "i cannot answer",
    "i can't answer",
    "i don't know",
    "i do not know",
    "the context does not",
    "the contexts do not",
    "the provided context does not",
    "there is no information",
)
#: Refusal phrases counted wherever they occur in the answer.
REFUSAL_PHRASES: tuple[str, ...] = (
    "cannot be answered",
    "not mentioned in the context",
    "not mentioned in the contexts",
)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's normalisation: lower case, drop punctuation and the articles
    a/an/the, collapse whitespace (the official ``evaluate-v1.1.py``, step for step)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def exact_match(pred: str, golds: Sequence[str]) -> float:
    """1.0 when ``pred`` equals a gold answer after normalisation, else 0.0; nan without golds."""
    if not golds:
        return math.nan
    p = normalize_answer(pred)
    return float(any(p == normalize_answer(g) for g in golds))


def token_f1(pred: str, golds: Sequence[str]) -> float:
    """SQuAD's token F1 of ``pred`` against its best gold answer; nan without golds.

    The bag-of-tokens overlap of the normalised texts. When either side normalises to
    no tokens (an answer that was only an article or punctuation) F1 is 1 if both are
    empty, else 0 (SQuAD v2.0's rule; v1.1 scored even two empty answers 0).
    """
    if not golds:
        return math.nan
    p = _tokens(pred)
    return max(_f1(p, _tokens(g)) for g in golds)


def _f1(pred: list[str], gold: list[str]) -> float:
    if not pred or not gold:
        return float(pred == gold)
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def groundedness(
    answer: str, contexts: Iterable[Context | str], *, abstain: str | None = None
) -> float:
    """Share of the answer's normalised tokens (repeats counted) found among the contexts'
    (their titles and texts, as the prompt shows them).

    A cheap proxy for "copied from the contexts rather than made up": 1.0 for an
    extractive answer, lower the more words come from elsewhere. nan for an empty
    answer, and for an abstention when ``abstain`` (the prompt's abstention reply) is
    given: an abstention claims nothing, so it is not scored.
    """
    tokens = _tokens(answer)
    if not tokens or (abstain is not None and is_abstention(answer, abstain)):
        return math.nan
    vocab: set[str] = set()
    for ctx in contexts:
        text = ctx if isinstance(ctx, str) else f"{ctx.title} {ctx.text}"
        vocab.update(_tokens(text))
    return sum(t in vocab for t in tokens) / len(tokens)


def is_abstention(answer: str, phrase: str) -> bool:
    """Whether ``answer`` declines to answer.

    True when the normalised ``phrase`` (the prompt's abstention reply) occurs in the
    normalised answer as whole words, when the answer starts with one of
    :data:`REFUSAL_STARTS`, or contains one of :data:`REFUSAL_PHRASES` (both compared
    normalised). An empty answer is not an abstention.
    """
    text = normalize_answer(answer)
    if not text:
        return False
    padded = f" {text} "
    wanted = normalize_answer(phrase)
    if wanted and f" {wanted} " in padded:
        return True
    if any(padded.startswith(f" {normalize_answer(s)} ") for s in REFUSAL_STARTS):
        return True
    return any(f" {normalize_answer(s)} " in padded for s in REFUSAL_PHRASES)


def answer_length(answer: str) -> int:
    """Number of whitespace-separated words."""
    return len(answer.split())
