"""The shape of a TOML recipe. Fixed sections are pydantic models (``extra="forbid"``);
the ``[teacher]``, ``[student]``, ``[data]``, ``[[losses]]`` and ``[runtime]`` tables
name a registered class and are validated against that class's options on load."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ragdistill.contracts import Stage

_STRICT = ConfigDict(extra="forbid", protected_namespaces=())


class PluggableSpec(BaseModel):
    """A table naming a registered class (``kind``) plus that class's options."""

    model_config = ConfigDict(extra="allow")
    kind: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DataSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    dataset: str = "tau2-banking"

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class LossSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    weight: float = Field(1.0, gt=0)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class TrainSpec(BaseModel):
    model_config = _STRICT
    epochs: int = Field(1, ge=1, le=1000)
    max_steps: int | None = Field(None, ge=1)
    batch_size: int = Field(32, ge=2, le=4096)
    learning_rate: float = Field(5e-5, gt=0, lt=1)
    weight_decay: float = Field(0.01, ge=0, lt=1)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    max_grad_norm: float = Field(1.0, gt=0)
    max_texts: int | None = Field(None, ge=2)
    eval_fraction: float = Field(0.05, ge=0, lt=0.5)
    eval_every: int = Field(0, ge=0)
    checkpoint_every: int = Field(50, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    teacher_batch_size: int = Field(32, ge=1)
    #: Batch inputs of similar length together (shuffled within groups of 50 batches).
    group_by_length: bool = False
    #: Embedder: each query-shaped text shares its batch with a passage from its
    #: teacher's top 3, so in-batch losses see the pairs retrieval ranks.
    teacher_pairs: bool = False
    seed: int = 42


class RuntimeSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    backend: str = "torch"

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class EvaluateSpec(BaseModel):
    model_config = _STRICT
    ab: bool = True
    baseline: bool = True
    max_queries: int | None = Field(None, ge=1)
    #: Retrieval depth (embedder); candidates reranked per query (reranker).
    k: int = Field(100, ge=10)
    bootstrap: int = Field(1000, ge=100)
    #: Encode throughput is the best of this many passes (other work only slows one down).
    throughput_repeats: int = Field(3, ge=1, le=20)
    #: Reranker A/B only: candidate-list sizes timed, and how many queries are timed.
    latency_candidates: list[int] = Field(default_factory=lambda: [20, 50, 100], min_length=1)
    latency_queries: int = Field(20, ge=1)


class CandidatesSpec(BaseModel):
    """Reranker recipes: how training and evaluation candidates are mined.

    ``embedder`` is the first stage (a registered embedder and its options) that
    retrieves the top ``k`` passages per query from the dataset's corpus (Chroma).
    The teacher scores all ``k``; the positive is its best candidate, and ``negatives``
    hard negatives are drawn from first-stage ranks ``window[0]..window[1]`` (1-based,
    inclusive), skipping near-duplicates of the positive (same text or document, or
    word-set Jaccard similarity >= ``dedup_threshold``). ``in_batch_negatives`` adds
    that many positives of other queries in the same batch to each query's list.
    """

    model_config = _STRICT
    embedder: PluggableSpec = Field(
        default_factory=lambda: PluggableSpec(
            kind="sentence-transformers", model="all-MiniLM-L6-v2"
        )
    )
    k: int = Field(50, ge=2, le=1000)
    #: Default: ranks 3..k (the top 2 are skipped: they are likely unjudged positives).
    window: tuple[int, int] | None = None
    negatives: int = Field(7, ge=1, le=256)
    in_batch_negatives: int = Field(0, ge=0, le=64)
    dedup_threshold: float = Field(0.9, gt=0, le=1)

    @model_validator(mode="after")
    def _window_in_range(self) -> CandidatesSpec:
        if self.window is None:
            self.window = (min(3, self.k), self.k)
        low, high = self.window
        if not 1 <= low <= high <= self.k:
            raise ValueError(
                f"window {list(self.window)} must satisfy 1 <= start <= end <= k ({self.k}); "
                "it names first-stage ranks to draw hard negatives from"
            )
        return self


class Recipe(BaseModel):
    model_config = _STRICT
    stage: Stage
    name: str = Field(min_length=1)
    output: str
    cache_dir: str | None = None
    teacher: PluggableSpec
    student: PluggableSpec
    data: DataSpec = DataSpec()
    losses: list[LossSpec] = Field(min_length=1)
    train: TrainSpec = TrainSpec()
    runtime: RuntimeSpec = RuntimeSpec()
    evaluate: EvaluateSpec = EvaluateSpec()
    candidates: CandidatesSpec | None = None

    @model_validator(mode="after")
    def _candidates_only_for_rerankers(self) -> Recipe:
        if self.candidates is not None and self.stage != "reranker":
            raise ValueError(
                f"[candidates] mines reranker training data; remove it from this "
                f"{self.stage} recipe"
            )
        if self.stage == "reranker" and self.candidates is None:
            self.candidates = CandidatesSpec()
        return self

    @model_validator(mode="after")
    def _teacher_pairs_only_for_embedders(self) -> Recipe:
        if self.train.teacher_pairs and self.stage != "embedder":
            raise ValueError(
                f"train.teacher_pairs pairs queries with passages for an embedder; remove it "
                f"from this {self.stage} recipe"
            )
        return self

    @model_validator(mode="after")
    def _eval_needs_queries(self) -> Recipe:
        if self.train.max_texts is not None and self.train.max_texts < self.train.batch_size:
            raise ValueError(
                f"train.max_texts ({self.train.max_texts}) is smaller than train.batch_size "
                f"({self.train.batch_size}); raise max_texts or lower batch_size"
            )
        return self
