"""The query-transformer stage's own recipe options: its ``[query_transformer]`` table."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ragdistill.recipes.schema import PluggableSpec
from ragdistill.stage import StageOptions

Task = Literal["rewrite", "expand", "hyde"]


class ConversationSpec(BaseModel):
    """How conversations are made from a dataset's questions (``task = "rewrite"``).

    Each question with at least one earlier question about the same passage becomes the
    last turn of a conversation: the ``turns`` questions before it (with their gold
    answers as the assistant's replies when ``answers`` is true) are the history. The
    teacher rewrites the last question as a follow-up that leans on the history
    (pronouns, ellipsis); the original question is the gold stand-alone rewrite and its
    passage the retrieval target. A follow-up the teacher left unchanged tests nothing
    and is dropped (counted) unless ``keep_unchanged``. ``oversample`` candidates per
    evaluated conversation are drawn, so that drops still leave ``evaluate.max_queries``.

    ``follow_ups = "rule"`` writes the follow-up without the teacher: the phrase the
    question shares with the conversation becomes a pronoun or is left out. For a teacher
    too small to write follow-ups (Qwen2.5-Coder-0.5B copies the question back nine times
    in ten); the stand-alone rewrites are still the teacher's.
    """

    model_config = StageOptions.model_config
    turns: int = Field(2, ge=1, le=8)
    answers: bool = True
    keep_unchanged: bool = False
    oversample: float = Field(1.4, ge=1.0, le=4.0)
    follow_ups: Literal["teacher", "rule"] = "teacher"


class LabelsSpec(BaseModel):
    """What the teacher writes per query (``[query_transformer.labels]``): at most
    ``max_new_tokens`` tokens, and with ``top_logprobs = k`` its ``k`` most likely tokens
    at each position (token-level KD; a shared tokenizer)."""

    model_config = StageOptions.model_config
    max_new_tokens: int = Field(64, ge=1, le=1024)
    top_logprobs: int = Field(0, ge=0, le=20)


class ABSpec(BaseModel):
    """How the A/B retrieves (``[query_transformer.ab]``).

    Every arm's queries are searched with one fixed ``embedder`` over the whole corpus,
    ``depth`` documents each; several queries (an expansion, with the user's own query
    first when ``fuse_original``) are fused by reciprocal-rank fusion with constant
    ``rrf_k``. Latency is measured live, one query at a time, on ``latency_queries``
    evaluated queries per arm (the same ones for every arm).
    """

    model_config = StageOptions.model_config
    embedder: PluggableSpec = Field(
        default_factory=lambda: PluggableSpec(
            kind="sentence-transformers", model="all-MiniLM-L6-v2"
        )
    )
    depth: int = Field(100, ge=10, le=1000)
    rrf_k: int = Field(60, ge=1)
    fuse_original: bool = True
    latency_queries: int = Field(40, ge=0)


class SyntheticSpec(BaseModel):
    """Questions the teacher writes about passages (``[query_transformer.synthetic]``),
    for a corpus without questions (a text folder) or whose questions each need several
    documents (tau2). ``passages`` passages are sampled (``seed``), ``questions`` asked
    per passage in order, so consecutive ones make a conversation; the questions of a
    share ``evaluate`` of the documents' groups are held out for evaluation. They
    replace the dataset's own questions."""

    model_config = StageOptions.model_config
    enabled: bool = False
    passages: int = Field(60, ge=2)
    questions: int = Field(3, ge=2, le=6)
    evaluate: float = Field(0.3, gt=0, lt=1)
    max_chars: int = Field(700, ge=100)
    seed: int = 0


class QueryTransformerOptions(StageOptions):
    """``task``: ``rewrite`` (conversation -> one stand-alone query), ``expand`` (one
    query -> ``num_queries`` alternatives, fused) or ``hyde`` (query -> a short
    hypothetical passage, embedded instead of the query)."""

    task: Task = "rewrite"
    num_queries: int = Field(3, ge=2, le=10)
    #: The causal student's prompt: the teacher's (``"teacher"``), or the conversation and
    #: query alone (``"bare"``): the student learns the task from the data and reads
    #: fewer tokens per query. The student before distillation always gets the teacher's.
    student_prompt: Literal["teacher", "bare"] = "teacher"
    conversation: ConversationSpec = Field(default_factory=ConversationSpec)
    labels: LabelsSpec = Field(default_factory=LabelsSpec)
    synthetic: SyntheticSpec = Field(default_factory=SyntheticSpec)
    ab: ABSpec = Field(default_factory=ABSpec)
    #: For a teacher whose tokenizer cannot be read from its options (an API model):
    #: the model or folder whose tokenizer it uses. Token-level KD checks it is the student's.
    teacher_tokenizer: str | None = None
