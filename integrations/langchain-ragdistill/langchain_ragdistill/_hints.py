"""Messages that say which constructor would work when a load or a teacher kind does not fit."""

from __future__ import annotations

import os
from typing import Any

from ragdistill.config import article
from ragdistill.contracts import Stage
from ragdistill.errors import RagdistillError
from ragdistill.registry import default_registry

#: The adapter class users reach for first, by stage (filled as the classes are defined).
ADAPTERS: dict[Stage, type[Any]] = {}
#: Every public adapter class, by name (for the payload check of ``load``).
CLASSES: dict[str, type[Any]] = {}

#: Teacher kinds that build on a folder another stage's loader loads (kind -> those
#: loaders): a bi-encoder reranker on a sentence-transformers embedder, a query
#: transformer on a causal LM... Used only to name the kind that fits in a hint.
BUILDS_ON: dict[str, frozenset[str]] = {
    "bi-encoder": frozenset({"sentence-transformers"}),
    "llm-judge": frozenset({"hf-causal-lm", "hf-llm"}),
    "hf-llm": frozenset({"hf-causal-lm"}),
    "hf-causal-lm": frozenset({"hf-llm"}),
}


def kinds(stage: Stage) -> list[str]:
    """The registered teacher kinds of ``stage``, sorted."""
    return sorted(e.name for e in default_registry().entries("teacher", stage=stage))


def folder_kind(source: str | os.PathLike[str]) -> tuple[Stage, str] | None:
    """The stage and loader of an artifact or model folder, read without verifying it;
    None when that cannot be told (the caller then raises its original error)."""
    from ragdistill.artifacts import read_manifest
    from ragdistill.loading import guess_loader, model_folder

    try:
        root = model_folder(source)
        manifest = read_manifest(root)
        if manifest is not None:
            return str(manifest["stage"]), str(manifest["loader"])
        return guess_loader(root)
    except (RagdistillError, OSError, KeyError, TypeError, ValueError):
        return None


def wrong_stage(
    adapter: type[Any], source: str | os.PathLike[str], found: tuple[Stage, str]
) -> str:
    """``source`` holds another stage's model: how to load it as that stage, and how to
    build ``adapter``'s stage on it (the kinds that fit first)."""
    stage, (found_stage, loader) = adapter.stage, found
    name = os.fspath(source)
    registered = kinds(stage)
    fits = [k for k in registered if loader in BUILDS_ON.get(k, ())]
    ways = []
    owner = ADAPTERS.get(found_stage)
    if owner is not None:
        ways.append(f"load it as {article(found_stage)} {found_stage} with {owner.__name__}.from_artifact({name!r})")  # fmt: skip
    if fits:
        ways.append(f"build {article(stage)} {stage} on it with " + " or ".join(
            f"{adapter.__name__}.from_teacher({k!r}, model={name!r})" for k in fits))  # fmt: skip
    else:
        ways.append(f"build {article(stage)} {stage} with {adapter.__name__}.from_teacher(KIND, model=...)")  # fmt: skip
    return (
        f"{name} holds {article(found_stage)} {found_stage}, not {article(stage)} {stage} "
        f"(its loader: {loader!r}): {', or '.join(ways)} ({stage} kinds: "
        f"{', '.join(registered) or 'none'}; from_artifact takes {stage} artifacts and model folders)"
    )


def unknown_kind(adapter: type[Any], kind: str, message: str) -> str:
    """The registry's message, plus the adapter to use when ``kind`` is another stage's."""
    elsewhere = [
        e.stage for e in default_registry().entries("teacher") if e.name == kind and e.stage
    ]
    tips = [
        f"{kind!r} is {article(s)} {s} kind: {ADAPTERS[s].__name__}.from_teacher({kind!r}, ...)"
        for s in elsewhere
        if s in ADAPTERS
    ]
    return f"{adapter.__name__}.from_teacher: {message}" + "".join(f"; {t}" for t in tips)


def not_copyable(adapter: Any, action: str, exc: BaseException) -> str:
    """Why an adapter around a component built in code cannot be pickled or copied."""
    name = type(adapter).__name__
    return (
        f"{name} wraps a {type(adapter.component).__qualname__} built in code, which cannot be "
        f"{action} ({exc}); build it with {name}.from_teacher(KIND, model=...) or "
        f"{name}.from_artifact(path) instead: those are {action} by description and "
        "rebuild their component on first use"
    )
