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
LATER_TRAIN_OPTIONS: dict[str, Any] = {"gradient_accumulation_steps": 1, "mixed_precision": "no"}


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
    max_queries: int | None = Field(None, ge=1)
    #: Results compared per query: retrieval depth, or candidates reranked.
    k: int = Field(100, ge=10)
    bootstrap: int = Field(1000, ge=100)
    #: Encode throughput is the best of this many passes (other work only slows one down).
    throughput_repeats: int = Field(3, ge=1, le=20)
    #: Stages that time scoring by input size (rerankers): the sizes, and queries timed.
    latency_candidates: list[int] = Field(default_factory=lambda: [20, 50, 100], min_length=1)
    latency_queries: int = Field(20, ge=1)


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
    stage_options: dict[str, Any] = Field(default_factory=dict)
    #: ``[plugins.<name>]`` tables: after parsing, each is the validated model the plugin
    #: registered with ``register_recipe_options`` (a plugin reads its own at run time).
    plugins: dict[str, Any] = Field(default_factory=dict)

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
