"""Rendering an example into chat messages, within the student's prompt budget."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ragdistill.stages.generator.examples import Context, GenerationExample
from ragdistill.stages.generator.options import PromptSpec

Messages = list[dict[str, str]]

#: Appended to the system message when the teacher is asked for a rationale first.
RATIONALE_INSTRUCTION = (
    "\nFirst explain briefly which context holds the answer and why, on a line starting "
    "with 'Reasoning:'. Then give the answer alone on a line starting with 'Answer:'."
)
#: The system-message suffix of the student's rationale task (a separate training target).
EXPLAIN_INSTRUCTION = "\nExplain briefly which context holds the answer and why."
_ANSWER = re.compile(r"^\s*answer\s*:\s*", re.IGNORECASE | re.MULTILINE)
_REASONING = re.compile(r"^\s*reasoning\s*:\s*", re.IGNORECASE)


def messages_for(
    example: GenerationExample,
    spec: PromptSpec,
    contexts: Sequence[Context] | None = None,
    *,
    system_suffix: str = "",
) -> Messages:
    """The system and user messages of ``example`` (with ``contexts`` if given)."""
    shown = example.contexts if contexts is None else contexts
    blocks = [
        spec.context.format(rank=i + 1, title=c.title, text=c.text) for i, c in enumerate(shown)
    ]
    system = spec.system.format(abstain=spec.abstain) + system_suffix
    user = spec.user.format(contexts="\n\n".join(blocks), question=example.question)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class FittedPrompt:
    messages: Messages
    #: Passages shown; the lowest-ranked ones that did not fit were dropped.
    contexts: tuple[Context, ...]
    dropped: int


def fit(
    example: GenerationExample,
    spec: PromptSpec,
    count_tokens: Callable[[Messages], int],
    budget: int,
    *,
    system_suffix: str = "",
) -> FittedPrompt | None:
    """The prompt with as many contexts as fit ``budget`` tokens, dropping whole passages
    from the lowest rank up; never the question. ``None`` when even the question alone
    (no contexts) does not fit: the caller skips and counts it."""
    shown = list(example.contexts)
    while True:
        messages = messages_for(example, spec, shown, system_suffix=system_suffix)
        if count_tokens(messages) <= budget:
            dropped = len(example.contexts) - len(shown)
            return FittedPrompt(messages, tuple(shown), dropped)
        if not shown:
            return None
        shown.pop()


def parse_rationale(text: str) -> tuple[str, str] | None:
    """``(rationale, answer)`` from "Reasoning: ... Answer: ...", or None if unparsable."""
    found = list(_ANSWER.finditer(text))
    if not found:
        return None
    cut = found[-1]
    rationale = _REASONING.sub("", text[: cut.start()]).strip()
    answer = text[cut.end() :].strip().split("\n")[0].strip()
    if not rationale or not answer:
        return None
    return rationale, answer
