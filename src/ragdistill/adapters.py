"""Shared by the framework shims (LlamaIndex, LangChain, Chroma): load a component in one
call, check its contract, and report what its artifact manifest says."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ragdistill.contracts import CONTRACTS, Component, Stage

if TYPE_CHECKING:
    from ragdistill.loading import RuntimeLike


def load(
    source: str | os.PathLike[str],
    stage: Stage,
    *,
    runtime: RuntimeLike = None,
    runtime_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> Component:
    """An artifact directory, a plain model folder or a model name -> a checked component,
    loaded through ``runtime`` (a registered runtime's name, built from
    ``runtime_options``, or a :class:`~ragdistill.runtime.RuntimeBackend`; None: torch on
    the CPU). ``options`` go to the component's loader (``batch_size``...)."""
    from ragdistill.loading import load_component

    component = load_component(
        source, stage=stage, runtime=runtime, runtime_options=runtime_options, **options
    )
    checked: Component = check(component, stage, where=os.fspath(source))
    return checked


def check(component: Any, stage: Stage, *, where: str = "component") -> Any:
    """``component`` itself, once it is known to implement ``stage``'s contract."""
    contract = CONTRACTS[stage]
    if not isinstance(component, contract):
        raise TypeError(
            f"{where} must be a ragdistill {contract.__name__}, got {type(component).__name__}; "
            f"build one or load it with from_artifact(path) or from_pretrained(path)"
        )
    return component


def manifest_of(component: Component) -> dict[str, Any] | None:
    """The artifact manifest ``load_component`` attached, or None for a hand-built component."""
    manifest = getattr(component, "manifest", None)
    return dict(manifest) if isinstance(manifest, dict) else None


def model_name(component: Component, source: str | os.PathLike[str] | None = None) -> str:
    """A display name: the source it was loaded from, else the artifact's student, else the
    component's own ``model_name`` or ``model`` (a reranker built in code), else its class."""
    if source is not None:
        return os.fspath(source)
    manifest = manifest_of(component) or {}
    student = manifest.get("student") or {}
    name = student.get("name") or student.get("model")
    for attr in ("model_name", "model"):
        if not name and isinstance(getattr(component, attr, None), str):
            name = getattr(component, attr)
    return str(name) if name else type(component).__qualname__


def describe(component: Component) -> dict[str, Any]:
    """The component's description plus, for an artifact, its teacher, student and metrics."""
    manifest = manifest_of(component) or {}
    return {
        "component": component.describe(),
        **{key: manifest[key] for key in ("teacher", "student", "metrics") if key in manifest},
    }


def load_from_values(values: Any, stage: Stage) -> Any:
    """A pydantic ``mode="before"`` step: check ``component=``, or load it from ``model=``."""
    if not isinstance(values, dict):
        return values
    if values.get("component") is not None:
        component = check(values["component"], stage)
        return {**values, "model": values.get("model") or model_name(component)}
    source = values.get("model")
    if source is None:
        raise ValueError(f"pass component= (a ragdistill {CONTRACTS[stage].__name__}) or model=")
    component = load(
        source, stage, runtime=values.get("runtime"), **(values.get("load_options") or {})
    )
    return {**values, "model": os.fspath(source), "component": component}
