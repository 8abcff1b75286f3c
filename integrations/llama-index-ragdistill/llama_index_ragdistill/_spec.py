"""A shim's component as a description (an artifact to load, or a registered teacher kind
and its options), built from it on first use; and the errors that say which to use.

The description is what ``to_dict``, ``pickle`` and ``copy`` carry: a loaded model holds
locks and threads and cannot be pickled, but the description rebuilds it anywhere (a
spawned ``IngestionPipeline`` worker, another machine). A copy shares the loaded model:
components are read-only at inference.
"""

from __future__ import annotations

import json
import os
import pickle
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from typing_extensions import Self

from ragdistill import adapters
from ragdistill.config import article, suggest
from ragdistill.contracts import CONTRACTS, Component, Stage
from ragdistill.credentials import credential_kind, is_secret_name
from ragdistill.errors import ConfigError, UnknownNameError

#: The shim of each stage, by name, for errors that point at another stage's shim.
SHIM_OF_STAGE: dict[str, str] = {
    "embedder": "RagdistillEmbedding",
    "reranker": "RagdistillRerank",
    "query_transformer": "RagdistillQueryTransform",
    "generator": "RagdistillLLM",
}
#: Registered kinds of a stage that build on a model of another stage, by the loader that
#: model's folder needs: what a stage mismatch suggests (an embedding model makes a
#: bi-encoder reranker, a causal LM a judge, a rewriter or a generator).
BUILDS_ON: dict[tuple[str, str], str] = {
    ("sentence-transformers", "reranker"): "bi-encoder",
    ("hf-causal-lm", "reranker"): "llm-judge",
    ("hf-causal-lm", "query_transformer"): "hf-llm",
    ("hf-llm", "generator"): "hf-causal-lm",
    ("hf-llm", "reranker"): "llm-judge",
}


def words(stage: str) -> str:
    """``"query_transformer"`` -> ``"query transformer"``."""
    return stage.replace("_", " ")


def a_stage(stage: str) -> str:
    return f"{article(stage)} {words(stage)}"


class ComponentSpec(BaseModel):
    """How to rebuild a shim's component: ``artifact`` (a folder or a model name ragdistill
    resolves, loaded with ``options`` as load options through ``runtime``) or ``teacher``
    (a registered kind of the shim's stage, built from ``options``).

    Credentials (``api_key=``...) are left out: a rebuilt component reads them from the
    environment (``api_key_env``), so ``to_dict`` never writes a key.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    artifact: str | None = Field(default=None, description="Artifact folder or model name.")
    teacher: str | None = Field(default=None, description="Registered teacher kind.")
    options: dict[str, Any] = Field(default_factory=dict, description="Load or build options.")
    runtime: str | None = Field(default=None, description="Registered runtime (artifacts only).")
    runtime_options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.artifact is None) == (self.teacher is None):
            raise ValueError("a component spec names exactly one of artifact= or teacher=")
        if self.teacher is not None and (self.runtime or self.runtime_options):
            raise ValueError("runtime= goes with artifact=; a teacher takes device= instead")
        return self

    @classmethod
    def of_artifact(
        cls,
        source: str | os.PathLike[str],
        options: dict[str, Any],
        runtime: Any = None,
        runtime_options: dict[str, Any] | None = None,
    ) -> ComponentSpec | None:
        """The spec of a ``from_artifact`` load; None when a runtime instance did it
        (only a registered runtime's name can be written down)."""
        if runtime is not None and not isinstance(runtime, str):
            return None
        path = Path(source)  # a folder is kept absolute, so a worker elsewhere finds it
        where = str(path.resolve()) if path.is_dir() else os.fspath(source)
        return _plain(
            artifact=where,
            options=options,
            runtime=runtime,
            runtime_options=dict(runtime_options or {}),
        )

    @classmethod
    def of_teacher(cls, kind: str, options: dict[str, Any]) -> ComponentSpec | None:
        model = options.get("model")
        if isinstance(model, str) and Path(model).is_dir():
            options = {**options, "model": str(Path(model).resolve())}
        return _plain(teacher=kind, options=options)

    def build(self, stage: Stage) -> Component:
        """The component this spec describes, checked against ``stage``'s contract."""
        if self.artifact is not None:
            return adapters.load(
                self.artifact,
                stage,
                runtime=self.runtime,
                runtime_options=self.runtime_options or None,
                **self.options,
            )
        from ragdistill.registry import default_registry

        cls = default_registry().teacher(stage, str(self.teacher))
        component: Component = cls.from_options(self.options, where=str(self.teacher))
        return component


def _plain(**fields: Any) -> ComponentSpec | None:
    """A spec without credentials, or None if an option is not plain JSON data."""
    for key in ("options", "runtime_options"):
        fields[key] = {
            k: v
            for k, v in fields.get(key, {}).items()
            if not (is_secret_name(str(k)) and v)
            and not (isinstance(v, str) and credential_kind(v))
        }
    try:
        json.dumps(fields)
    except (TypeError, ValueError):
        return None
    return ComponentSpec(**fields)


def display_name(component: Component) -> str:
    """The artifact's student, else the component's ``model`` option, else its class."""
    if adapters.manifest_of(component):
        return adapters.model_name(component)
    model = getattr(component, "model", None)
    return model if isinstance(model, str) and model else type(component).__qualname__


class ComponentSlot:
    """A shim's component: the one given, or built from ``spec`` on first use (once, under a
    lock). Pickled as the spec alone when there is one; deep-copied sharing the component."""

    def __init__(
        self,
        stage: Stage,
        owner: str,
        component: Component | None = None,
        spec: ComponentSpec | None = None,
    ) -> None:
        if component is None and spec is None:
            raise TypeError(
                f"{owner} needs a component: pass a ragdistill {CONTRACTS[stage].__name__} "
                f"({owner}(component)), or build it with {owner}.from_artifact(path) or "
                f"{owner}.from_teacher(kind, model=...); one built on a component in code "
                "records no component_spec, so its to_dict() cannot rebuild it"
            )
        self.stage, self.owner, self.spec = stage, owner, spec
        self._component = component
        self._lock = threading.Lock()

    @property
    def loaded(self) -> Component | None:
        """The component if it is built, else None (nothing is loaded)."""
        return self._component

    @property
    def name(self) -> str:
        """A display name, without building the component."""
        if self._component is not None:
            return display_name(self._component)
        spec = self.spec
        assert spec is not None  # __init__ saw to it
        return str(spec.artifact or spec.options.get("model") or spec.teacher)

    def get(self) -> Component:
        if self._component is None:
            with self._lock:
                if self._component is None:
                    assert self.spec is not None  # __init__ saw to it
                    self._component = self.spec.build(self.stage)
        return self._component

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "stage": self.stage,
            "owner": self.owner,
            "spec": self.spec,
            "component": None,
        }
        if self.spec is None:
            try:
                pickle.dumps(self._component)  # to say what to do instead of a bare error
            except Exception as exc:
                name = type(self._component).__name__
                raise TypeError(
                    f"cannot pickle this {self.owner}: its component, {name}, was built in "
                    f"code and does not pickle ({exc}); build it with {self.owner}.from_artifact(path) "
                    f"or {self.owner}.from_teacher(kind, ...) so a copy is rebuilt from that"
                ) from exc
            state["component"] = self._component
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.stage, self.owner, self.spec = state["stage"], state["owner"], state["spec"]
        self._component = state["component"]
        self._lock = threading.Lock()

    def __deepcopy__(self, memo: dict[int, Any]) -> ComponentSlot:
        return ComponentSlot(self.stage, self.owner, self._component, self.spec)


def stage_mismatch(shim: str, source: str | os.PathLike[str], stage: Stage) -> str | None:
    """What to build instead when ``source`` holds another stage's model; None if it does not
    (or cannot be located: then the original error stands)."""
    from ragdistill.loading import locate
    from ragdistill.registry import default_registry

    try:
        found = locate(source)
    except Exception:
        return None
    if found.stage == stage:
        return None
    name = os.fspath(source)
    kinds = sorted(e.name for e in default_registry().entries("teacher", stage=stage))
    listed = f"registered {words(stage)} kinds: {', '.join(kinds) or 'none'}"
    kind = BUILDS_ON.get((found.loader, stage))
    if kind in kinds:
        return (
            f"{name} holds {a_stage(found.stage)}: build {a_stage(stage)} on it with "
            f"{shim}.from_teacher({kind!r}, model={name!r}) ({listed})"
        )
    other = SHIM_OF_STAGE.get(found.stage)
    use = (
        f"; as {a_stage(found.stage)} it loads with {other}.from_artifact({name!r})"
        if other
        else ""
    )
    return (
        f"{name} holds {a_stage(found.stage)}, not {a_stage(stage)}: load {a_stage(stage)} artifact with "
        f"{shim}.from_artifact(path), or build one with {shim}.from_teacher(KIND, model=...) "
        f"({listed}){use}"
    )


def teacher_class(shim: str, stage: Stage, kind: str) -> type[Component]:
    """The registered ``kind`` of ``stage``; a kind of another stage names that stage's shim."""
    from ragdistill.registry import default_registry

    registry = default_registry()
    try:
        return registry.teacher(stage, kind)
    except UnknownNameError as exc:
        other = next(
            (e.stage for e in registry.entries("teacher") if e.name == kind and e.stage), None
        )
        if other is None:
            raise
        kinds = sorted(e.name for e in registry.entries("teacher", stage=stage))
        raise UnknownNameError(
            f"{kind!r} builds {a_stage(other)}, not {a_stage(stage)}: use "
            f"{SHIM_OF_STAGE.get(other, 'its shim')}.from_teacher({kind!r}, ...) for that; "
            f"{shim} takes {words(stage)} kinds: {', '.join(kinds) or 'none'}"
        ) from exc


def split_options(
    shim: str,
    kind: str,
    teacher: type[Component],
    fields: set[str],
    options: dict[str, Any],
    load_options: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``from_teacher``'s keywords as (component options, shim fields): a keyword that
    names a field of the shim sets it; every other keyword, and all of ``load_options``,
    are the kind's constructor options. One the constructor does not take fails, naming
    both lists (``from_options`` would name the constructor's only)."""
    from ragdistill.config import options_model

    model = options_model(teacher)
    takes = set(model.model_fields)
    own = {k: v for k, v in options.items() if k in fields}
    component = {**(load_options or {}), **{k: v for k, v in options.items() if k not in own}}
    unknown = sorted(k for k in component if k not in takes)
    if unknown and model.model_config.get("extra") != "allow":
        key = unknown[0]
        close = suggest(key, takes | fields)
        hint = f"did you mean {close!r}? " if close else ""
        raise ConfigError(
            f"{shim}.from_teacher({kind!r}): unknown option {key!r}; {hint}the {kind} "
            f"{words(teacher.stage)} takes {', '.join(sorted(takes))}; {shim} takes "
            f"{', '.join(sorted(fields))}"
        )
    return component, own
