"""The shape of a TOML recipe. Fixed sections are pydantic models (``extra="forbid"``);
the ``[teacher]``, ``[student]``, ``[data]``, ``[[losses]]`` and ``[runtime]`` tables
name a registered class and are validated against that class's options on load, and each
``[plugins.<name>]`` table against the model a plugin registered under that name."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

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


#: ``[train]`` options added after checkpoints were first fingerprinted, with their default.
LATER_TRAIN_OPTIONS: dict[str, Any] = {
    "gradient_accumulation_steps": 1,
    "mixed_precision": "no",
    "metric_for_best": None,
    "greater_is_better": True,
    "early_stopping_patience": None,
    "early_stopping_threshold": 0.0,
    "eval_on_start": True,
}


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
    #: Share of the query-shaped training texts held out as the dev split evaluated every
    #: ``eval_every`` steps (the embedder and the reranker: 8 to 200); 0 holds out and
    #: evaluates nothing.
    eval_fraction: float = Field(0.05, ge=0, lt=0.5)
    eval_every: int = Field(0, ge=0)
    checkpoint_every: int = Field(50, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    teacher_batch_size: int = Field(32, ge=1)
    #: Batch inputs of similar length together (shuffled within groups of 50 batches).
    group_by_length: bool = False
    seed: int = 42
    #: Registered training callbacks to run (e.g. ``["tensorboard"]``); they observe
    #: training only, so they are not part of the recipe fingerprint.
    callbacks: list[str] = Field(default_factory=list)
    #: Batches of ``batch_size`` whose gradients add up to one optimizer step: a step
    #: learns from ``batch_size * gradient_accumulation_steps`` inputs. Steps
    #: (``max_steps``, ``checkpoint_every``, ``eval_every``) count optimizer steps.
    gradient_accumulation_steps: int = Field(1, ge=1, le=1024)
    #: Autocast precision of the forward pass: ``"bf16"`` or ``"fp16"`` (with a loss
    #: scaler) on a GPU; ``"no"`` trains in fp32. A CPU run refuses the other two.
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    #: An evaluation metric (e.g. ``"dev/ndcg@10"``): the weights of its best evaluation
    #: (the last step is evaluated too) are kept in ``checkpoints/best-N`` and are what
    #: the artifact saves. None: the last weights.
    metric_for_best: str | None = Field(None, min_length=1)
    greater_is_better: bool = True
    #: Stop after this many evaluations in a row that do not beat the best by more than
    #: ``early_stopping_threshold``; the learning-rate schedule keeps its full length.
    early_stopping_patience: int | None = Field(None, ge=1)
    early_stopping_threshold: float = Field(0.0, ge=0)
    #: With ``eval_every``, evaluate the student before its first step too. Under
    #: ``metric_for_best`` the start then competes with the trained weights: a
    #: distillation that never beats it on the dev split keeps the start (and says so).
    eval_on_start: bool = True

    @model_validator(mode="after")
    def _selection_needs_evaluations(self) -> TrainSpec:
        # A typo'd combination would otherwise train for hours and select nothing.
        if self.early_stopping_patience is not None and self.metric_for_best is None:
            raise ValueError(
                "train.early_stopping_patience needs train.metric_for_best: name the "
                'evaluation metric to watch, e.g. metric_for_best = "dev/ndcg@10"'
            )
        options = [o for o in ("metric_for_best", "early_stopping_patience")
                   if getattr(self, o) is not None]  # fmt: skip
        if options and self.eval_every == 0:
            raise ValueError(
                f"{' and '.join('train.' + o for o in options)} "
                f"need{'s' if len(options) == 1 else ''} evaluations during training: "
                "set train.eval_every to the steps between them (e.g. eval_every = 50)"
            )
        if self.early_stopping_threshold and self.early_stopping_patience is None:
            raise ValueError(
                "train.early_stopping_threshold has no effect without "
                "train.early_stopping_patience; set both or neither"
            )
        if not self.greater_is_better and self.metric_for_best is None:
            raise ValueError(
                "train.greater_is_better has no effect without train.metric_for_best; set both"
            )
        return self

    @model_serializer(mode="wrap")
    def _omit_later_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Options added after checkpoints were first fingerprinted are left out at their
        # default, so a recipe that does not use them keeps its fingerprint and resumes.
        data: dict[str, Any] = handler(self)
        for key, off in LATER_TRAIN_OPTIONS.items():
            if key in data and data[key] == off:
                del data[key]
        return data

    @field_validator("callbacks")
    @classmethod
    def _distinct(cls, names: list[str]) -> list[str]:
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"{', '.join(map(repr, twice))} listed more than once; list each once")
        return names


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
    #: Models a user could pick instead of the student (names, folders or
    #: ``KIND:MODEL``), each an arm of the A/B the student is compared with. None: the
    #: stage's default (the embedder: the student's own starting model, when the student
    #: prunes or projects it); ``[]``: none.
    references: list[str] | None = None
    max_queries: int | None = Field(None, ge=1)
    #: Results compared per query: retrieval depth, or candidates reranked.
    k: int = Field(100, ge=10)
    bootstrap: int = Field(1000, ge=100)
    #: Encode speed is measured in this many rounds over all arms in turn (the median
    #: round counts), each round the best of ``throughput_repeats`` passes.
    throughput_repeats: int = Field(1, ge=1, le=20)
    throughput_rounds: int = Field(3, ge=1, le=50)
    #: Stages that time scoring by input size (rerankers): the sizes, and queries timed.
    latency_candidates: list[int] = Field(default_factory=lambda: [20, 50, 100], min_length=1)
    latency_queries: int = Field(20, ge=1)


class CandidateSpec(BaseModel):
    """One student of a sweep: what it changes in the recipe it is swept from.

    ``student`` is merged into the recipe's ``[student]`` table, unless it names a
    ``kind`` or ``model``: a different model then takes the table whole (the base
    model's ``keep_layers`` would not fit it). ``train`` and ``stage`` (the stage's own
    table) are merged; ``losses``, when given, replace the recipe's list.
    """

    model_config = _STRICT
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    #: What the candidate is, for the report (e.g. "4 of 6 layers, 256 word pieces").
    note: str = ""
    student: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    losses: list[dict[str, Any]] | None = None
    stage: dict[str, Any] = Field(default_factory=dict)


class SweepSpec(BaseModel):
    """``[sweep]``: the candidate students ``ragdistill sweep`` distills from the recipe.

    Without candidates the stage proposes its own (the embedder: layer subsets of the
    student's model). Every candidate learns from the one cached teacher.
    """

    model_config = _STRICT
    candidates: list[CandidateSpec] = Field(default_factory=list)
    #: Also distill the recipe's own student as a candidate named ``recipe``.
    include_recipe: bool = True

    @field_validator("candidates")
    @classmethod
    def _distinct_names(cls, candidates: list[CandidateSpec]) -> list[CandidateSpec]:
        names = [c.name for c in candidates]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"candidate names must differ; {', '.join(map(repr, twice))} repeats")
        return candidates


class Recipe(BaseModel):
    """One distillation. ``stage`` names a registered stage; that stage's own options are
    its ``[<stage>]`` table (e.g. ``[reranker.candidates]``), kept in ``stage_options`` and
    validated against the stage's ``Options`` model when the recipe is parsed."""

    model_config = _STRICT
    stage: Stage = Field(min_length=1)
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
    #: ``[sweep]``: read by ``ragdistill sweep`` only; a plain distillation ignores it.
    sweep: SweepSpec | None = None
    stage_options: dict[str, Any] = Field(default_factory=dict)
    #: ``[plugins.<name>]`` tables: after parsing, each is the validated model the plugin
    #: registered with ``register_recipe_options`` (a plugin reads its own at run time).
    plugins: dict[str, Any] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _omit_no_sweep(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A recipe without [sweep] dumps as recipes did before the table existed.
        data: dict[str, Any] = handler(self)
        if data.get("sweep", 0) is None:
            del data["sweep"]
        return data

    @model_validator(mode="before")
    @classmethod
    def _stage_table(cls, data: Any) -> Any:
        # TOML writes a stage's options as the table named after it: [reranker.candidates].
        if isinstance(data, dict) and isinstance(data.get("stage"), str):
            table = data.get(data["stage"])
            if isinstance(table, dict):
                data = {k: v for k, v in data.items() if k != data["stage"]}
                data["stage_options"] = {**data.get("stage_options", {}), **table}
        return data

    @model_validator(mode="after")
    def _eval_needs_queries(self) -> Recipe:
        if self.train.max_texts is not None and self.train.max_texts < self.train.batch_size:
            raise ValueError(
                f"train.max_texts ({self.train.max_texts}) is smaller than train.batch_size "
                f"({self.train.batch_size}); raise max_texts or lower batch_size"
            )
        return self
