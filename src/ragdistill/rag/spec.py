"""A pipeline spec: named arms, each a RAG pipeline of components, and how to compare them.

One TOML file builds the offline A/B (``ragdistill ab pipeline``), the pipelines behind
the online router and the LlamaIndex / LangChain components, so what is measured is
what is deployed::

    control = "teacher"          # the reference arm; every difference is against it
    treatment = "distilled"      # the arm the ablation swaps in, one stage at a time
    ablate = true
    k = 10                       # candidates the embedder retrieves per query
    contexts = 2                 # passages the generator reads, after reranking

    [arms.teacher.embedder]
    model = "all-mpnet-base-v2"  # a model name or folder (loaded as it says it loads)
    [arms.teacher.generator]
    kind = "hf-causal-lm"        # a registered kind built on `model`...
    model = "Qwen2.5-Coder-0.5B-Instruct"
    [arms.distilled.embedder]
    artifact = "runs/emb/student"   # ...or a distilled artifact
    [arms.distilled.generator]
    artifact = "runs/gen/student"

A stage an arm leaves out is skipped (no query transformer, no reranker: the retrieved
order; no generator: retrieval only). The embedder is required.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ragdistill.config import format_validation_error
from ragdistill.contracts import Embedder, Generator, QueryTransformer, Reranker
from ragdistill.errors import ConfigError

#: The stages a pipeline runs, in the order a request flows through them.
STAGE_ORDER: tuple[str, ...] = (
    QueryTransformer.stage,
    Embedder.stage,
    Reranker.stage,
    Generator.stage,
)
_STRICT = ConfigDict(extra="forbid", protected_namespaces=())


class ApiPrice(BaseModel):
    """What an API stage costs, per million tokens. A priced stage is not charged at the
    hardware's hourly price: it runs on the provider's machines."""

    model_config = _STRICT
    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(0.0, ge=0)


class ComponentSpec(BaseModel):
    """One stage's component: ``artifact`` (a folder or model name, loaded as its manifest
    or config says) or ``kind`` (a registered component built from the other keys).
    Every other key is an option of that component (``model``, ``max_new_tokens``...)."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())
    artifact: str | None = None
    kind: str | None = None
    #: The registered runtime that loads an ``artifact`` (default: torch on the CPU).
    runtime: str | None = None
    price: ApiPrice | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ComponentSpec:
        if (self.artifact is None) == (self.kind is None) and "model" not in self.options:
            raise ValueError(
                "give exactly one of `artifact` (a folder or model name to load) or `kind` "
                "(a registered component) with its `model`"
            )
        if self.artifact is not None and self.kind is not None:
            raise ValueError("give `artifact` or `kind`, not both")
        return self

    @property
    def options(self) -> dict[str, Any]:
        """The component's own options: every key besides artifact, kind, runtime, price."""
        return dict(self.model_extra or {})

    @property
    def source(self) -> str:
        """What the component is, in a few words (for reports)."""
        if self.kind is not None:
            return f"{self.kind}:{self.options.get('model', '')}".rstrip(":")
        return self.artifact if self.artifact is not None else str(self.options["model"])

    def key(self) -> str:
        """Identity of the built component: equal specs share one loaded model."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class CostSpec(BaseModel):
    """``hardware_per_hour`` prices the machine the local stages run on (what an hour of
    it costs, e.g. a cloud instance's on-demand price); API stages carry a ``price``."""

    model_config = _STRICT
    hardware_per_hour: float = Field(0.0, ge=0)
    currency: str = "USD"


class GuardrailSpec(BaseModel):
    """When the online router stops sending traffic to the treatment.

    Checked over the treatment's last ``window`` requests once it has ``min_requests``:
    an error rate above ``max_error_rate`` or a p95 latency above ``max_p95_ms`` sends
    every later request to the control, and the log records why.
    """

    model_config = _STRICT
    max_error_rate: float = Field(0.05, ge=0, le=1)
    max_p95_ms: float | None = Field(None, gt=0)
    min_requests: int = Field(20, ge=1)
    window: int = Field(200, ge=1)


class RouterSpec(BaseModel):
    """The online A/B: the share of keys sent to the treatment, and shadow mode (run the
    other arm too, off the response path, and log both)."""

    model_config = _STRICT
    treatment_share: float = Field(0.5, ge=0, le=1)
    shadow: bool = False
    #: Mixed into every key's hash, so two experiments assign users independently.
    salt: str = ""
    guardrails: GuardrailSpec = GuardrailSpec()


class PipelineSpec(BaseModel):
    """A whole spec file; see the module docstring for its shape."""

    model_config = _STRICT
    name: str = "pipeline"
    arms: dict[str, dict[str, ComponentSpec]] = Field(min_length=1)
    control: str | None = None
    treatment: str | None = None
    ablate: bool = False
    k: int = Field(10, ge=1)
    contexts: int = Field(2, ge=1)
    max_new_tokens: int = Field(64, ge=1)
    #: Each context cut to this many characters in the prompt (at a word boundary), as
    #: the generator stage's ``[generator.contexts] max_chars``; None keeps them whole.
    context_chars: int | None = Field(None, ge=1)
    #: The generator's prompt: ``system``, ``user`` ({contexts}, {question}), ``context``
    #: ({rank}, {title}, {text}) and ``abstain``; the generator stage's defaults otherwise.
    prompt: dict[str, str] = Field(default_factory=dict)
    cost: CostSpec = CostSpec()
    router: RouterSpec = RouterSpec()

    @model_validator(mode="after")
    def _arms(self) -> PipelineSpec:
        for name, stages in self.arms.items():
            unknown = sorted(set(stages) - set(STAGE_ORDER))
            if unknown:
                raise ValueError(
                    f"arms.{name}: unknown stage {', '.join(unknown)}; a pipeline has "
                    + ", ".join(STAGE_ORDER)
                )
            if Embedder.stage not in stages:
                raise ValueError(f"arms.{name}: every arm needs an [arms.{name}.embedder]")
        names = list(self.arms)
        for field, value in (("control", self.control), ("treatment", self.treatment)):
            if value is not None and value not in self.arms:
                raise ValueError(f"{field} = {value!r} names no arm; arms: {', '.join(names)}")
        if self.control is None:
            self.control = names[0]
        if self.treatment is None and len(names) > 1:
            self.treatment = next(n for n in names if n != self.control)
        if self.treatment == self.control:
            raise ValueError("control and treatment name the same arm")
        if self.ablate and self.treatment is None:
            raise ValueError("ablate = true needs a second arm to swap stages from")
        from ragdistill.stages.generator.options import PromptSpec

        try:
            PromptSpec(**self.prompt)
        except (ValidationError, TypeError) as exc:
            raise ValueError(f"[prompt]: {exc}") from None
        return self

    @property
    def control_arm(self) -> str:
        assert self.control is not None  # set by the validator
        return self.control

    def arm_names(self) -> list[str]:
        """The arms the offline A/B runs: the spec's, then the ablation arms."""
        return list(self.arms_with_ablation())

    def arms_with_ablation(self) -> dict[str, dict[str, ComponentSpec]]:
        """Every arm, plus with ``ablate`` one arm per stage where control and treatment
        differ: the control with that one stage taken from the treatment, named
        ``<control>+<stage>``."""
        arms = dict(self.arms)
        if not self.ablate or self.treatment is None:
            return arms
        for stage in self.differing_stages():
            swapped = dict(self.arms[self.control_arm])
            if stage in self.arms[self.treatment]:
                swapped[stage] = self.arms[self.treatment][stage]
            else:
                swapped.pop(stage, None)
            arms[f"{self.control}+{stage}"] = swapped
        return arms

    def differing_stages(self, arm: str | None = None) -> list[str]:
        """The stages where ``arm`` (default: the treatment) differs from the control."""
        other = self.arms_with_ablation()[arm] if arm else self.arms[self.treatment or ""]
        base = self.arms[self.control_arm]
        return [
            s
            for s in STAGE_ORDER
            if (s in base) != (s in other) or (s in base and base[s].key() != other[s].key())
        ]


def load_spec(path: str | os.PathLike[str]) -> PipelineSpec:
    """Read and validate a spec file; every problem is one line naming its key."""
    from ragdistill.recipes import tomllib

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"pipeline spec {file} does not exist; write one (see `ragdistill ab pipeline --help`)")  # fmt: skip
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"pipeline spec {file} is not valid TOML: {exc}") from None
    return parse_spec(data, where=str(file))


def parse_spec(data: Mapping[str, Any], *, where: str = "pipeline spec") -> PipelineSpec:
    """Validate a spec's data; a key written in it is refused (name the variable that holds
    it instead, e.g. ``api_key_env = "OPENAI_API_KEY"``)."""
    from ragdistill.credentials import refuse_secrets

    refuse_secrets(dict(data), where)
    try:
        return PipelineSpec.model_validate(dict(data))
    except ValidationError as exc:
        errors = exc.errors()
        if all(e["type"] == "value_error" and not e["loc"] for e in errors):
            # The spec-wide checks above: their own message says it all.
            message = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in errors)
        else:
            message = format_validation_error(exc, where="", model=PipelineSpec)
        raise ConfigError(f"{where}: {message}") from None


def as_spec(spec: PipelineSpec | Mapping[str, Any] | str | os.PathLike[str]) -> PipelineSpec:
    """A spec from a :class:`PipelineSpec`, a mapping (a parsed TOML table) or a TOML path."""
    if isinstance(spec, PipelineSpec):
        return spec
    if isinstance(spec, Mapping):
        return parse_spec(spec)
    return load_spec(spec)
