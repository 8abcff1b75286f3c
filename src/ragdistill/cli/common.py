"""Helpers the commands share, stage commands included: datasets and components by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragdistill.errors import ConfigError


def key_values(items: tuple[str, ...], *, flag: str) -> dict[str, str]:
    """``("a=1", "b=x")`` -> ``{"a": "1", "b": "x"}``; a malformed item names the flag."""
    table: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {item!r}: write KEY=VALUE, e.g. split=dev")
        table[key.strip()] = value
    return table


def load_dataset(name: str, data_path: Path | None, options: tuple[str, ...]) -> Any:
    """A registered dataset loader, its options validated, loaded."""
    from ragdistill.registry import default_registry

    cls = default_registry().dataset(name)
    table: dict[str, Any] = dict(key_values(options, flag="--data-option"))
    if data_path is not None:
        table["path"] = str(data_path)
    return cls.from_options(table, where=f"dataset {name}").load()


def load_arm(spec: str, *, stage: str, **options: Any) -> Any:
    """A component of ``stage`` from the command line.

    ``KIND:MODEL`` builds the registered teacher ``KIND`` of that stage on ``MODEL``
    (``bi-encoder:all-mpnet-base-v2``); anything else is an artifact directory, a model
    folder or a provisionable model name.
    """
    from ragdistill.loading import load_component
    from ragdistill.registry import default_registry

    kind, sep, model = spec.partition(":")
    registry = default_registry()
    kinds = {e.name for e in registry.entries("teacher", stage=stage)}
    if sep and kind in kinds and not Path(spec).exists():
        cls = registry.teacher(stage, kind)
        return cls.from_options({"model": model, **options}, where=spec)
    return load_component(spec, stage=stage, **options)
