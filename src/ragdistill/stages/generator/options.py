"""The generator stage's own recipe options: its ``[generator]`` table."""

from __future__ import annotations

import string
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ragdistill.recipes.schema import PluggableSpec
from ragdistill.stage import StageOptions

#: The default instructions: answer from the contexts only, and say so when they cannot.
DEFAULT_SYSTEM = (
    "You answer questions using only the numbered contexts you are given. "
    "Answer briefly, in a short phrase copied from the contexts where possible. "
    "If the contexts do not contain the answer, reply exactly: {abstain}"
)
DEFAULT_USER = "Contexts:\n{contexts}\n\nQuestion: {question}"
DEFAULT_CONTEXT = "[{rank}] {title}\n{text}"
DEFAULT_ABSTAIN = "I cannot answer from the given contexts."


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


class PromptSpec(BaseModel):
    """The prompt every arm sees (``[generator.prompt]``): a system message, a user
    message holding ``{contexts}`` and ``{question}``, and the form of one context
    (``{rank}``, ``{title}``, ``{text}``). ``{abstain}`` in the system message is the
    exact reply asked for when the contexts lack the answer; the A/B counts answers
    that give it as abstentions."""

    model_config = StageOptions.model_config
    system: str = DEFAULT_SYSTEM
    user: str = DEFAULT_USER
    context: str = DEFAULT_CONTEXT
    abstain: str = Field(DEFAULT_ABSTAIN, min_length=1)

    @model_validator(mode="after")
    def _placeholders(self) -> PromptSpec:
        allowed = {
            "system": ({"abstain"}, set()),
            "user": ({"contexts", "question"}, {"contexts", "question"}),
            "context": ({"rank", "title", "text"}, {"text"}),
        }
        for name, (known, needed) in allowed.items():
            try:
                found = _fields(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"prompt.{name} is not a valid template: {exc}") from None
            if unknown := found - known:
                raise ValueError(
                    f"prompt.{name} uses {sorted(unknown)}; it may use only {sorted(known)} "
                    "(write {{ and }} for literal braces)"
                )
            if missing := needed - found:
                raise ValueError(f"prompt.{name} must contain {{{sorted(missing)[0]}}}")
        return self


class ContextsSpec(BaseModel):
    """Which passages go into a prompt (``[generator.contexts]``).

    ``embedder`` retrieves the top ``k`` passages of the dataset's corpus per question
    (Chroma). With ``gold = "include"`` the question's source passages (SQuAD's paragraph,
    a tau2 task's required documents) are placed among them at a seeded random rank, so
    the student learns to answer from noisy retrieval, not from a fixed slot;
    ``"retrieved"`` uses what the embedder finds and nothing else. A share
    ``unanswerable`` of the questions has its source passages withheld: the expected
    reply is the prompt's abstention. ``max_chars`` cuts each passage; passages that do
    not fit ``max_prompt_tokens`` (the student's tokens) are dropped from the lowest rank
    up, never the question.
    """

    model_config = StageOptions.model_config
    embedder: PluggableSpec = Field(
        default_factory=lambda: PluggableSpec(
            kind="sentence-transformers", model="all-MiniLM-L6-v2"
        )
    )
    k: int = Field(3, ge=1, le=50)
    gold: Literal["include", "retrieved"] = "include"
    unanswerable: float = Field(0.0, ge=0, lt=1)
    max_chars: int | None = Field(1200, ge=50)
    max_prompt_tokens: int = Field(1024, ge=64)
    seed: int = 0


class LabelsSpec(BaseModel):
    """What the teacher writes for each prompt (``[generator.labels]``).

    ``max_new_tokens`` bounds an answer. ``top_logprobs = k`` also stores the teacher's
    ``k`` most likely tokens at every answer position (sparse, for token-level KD; needs a
    shared tokenizer). ``rationale = true`` asks the teacher to reason before answering
    and trains the student on the rationale and on the answer as two targets (Hsieh et
    al. 2023), the rationale's loss weighted by ``rationale_weight``.
    """

    model_config = StageOptions.model_config
    max_new_tokens: int = Field(64, ge=1, le=4096)
    top_logprobs: int = Field(0, ge=0, le=20)
    rationale: bool = False
    rationale_weight: float = Field(0.5, gt=0, le=10)
    rationale_max_new_tokens: int = Field(192, ge=8, le=4096)


class SyntheticSpec(BaseModel):
    """Questions the teacher writes from passages (``[generator.synthetic]``), for a
    dataset without questions (a text folder) or to add to one that has some.

    ``passages`` passages are sampled, one question each. With ``evaluate = true`` (or a
    dataset with no judged questions) the evaluated questions are synthetic too: those
    of a seeded share of the documents' groups (titles), ``evaluate.max_queries`` of
    them, never trained on; the dataset's own questions then only train.
    """

    model_config = StageOptions.model_config
    enabled: bool = False
    passages: int = Field(200, ge=1)
    evaluate: bool = False
    seed: int = 0


class GeneratorOptions(StageOptions):
    prompt: PromptSpec = Field(default_factory=PromptSpec)
    contexts: ContextsSpec = Field(default_factory=ContextsSpec)
    labels: LabelsSpec = Field(default_factory=LabelsSpec)
    synthetic: SyntheticSpec = Field(default_factory=SyntheticSpec)
    #: For a teacher whose tokenizer cannot be read from its options (an API model):
    #: the model or folder whose tokenizer it uses. Token-level KD checks it is the student's.
    teacher_tokenizer: str | None = None
