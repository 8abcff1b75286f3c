"""TOML recipes: one distillation, validated in full before any model loads."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ragdistill.config import format_validation_error, validate_options
from ragdistill.errors import ConfigError
from ragdistill.recipes.schema import Recipe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Recipe", "load_recipe", "parse_recipe", "recipe_fingerprint"]


def load_recipe(path: str | Path) -> Recipe:
    """Read and fully validate a recipe file; :class:`ConfigError` names the bad key."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"recipe {file} does not exist")
    try:
        data = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return parse_recipe(data, where=str(file))


def parse_recipe(data: dict[str, Any], *, where: str = "recipe") -> Recipe:
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            f"{where}: " + format_validation_error(exc, where="", model=Recipe)
        ) from None
    _check_plugins(recipe, where)
    return recipe


def _check_plugins(recipe: Recipe, where: str) -> None:
    """Validate each pluggable table against its registered class; loads no model."""
    from ragdistill.registry import default_registry

    registry = default_registry()

    def check(kind: str, lookup: Any, options: dict[str, Any], label: str) -> None:
        try:
            cls = lookup()
        except ConfigError as exc:
            raise ConfigError(f"{where}: [{label}] {kind}: {exc}") from None
        try:
            validate_options(cls, options, where=label)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    stage = recipe.stage
    check(
        "kind",
        lambda: registry.teacher(stage, recipe.teacher.kind),
        recipe.teacher.options,
        "teacher",
    )
    check(
        "kind",
        lambda: registry.student(stage, recipe.student.kind),
        recipe.student.options,
        "student",
    )
    check("dataset", lambda: registry.dataset(recipe.data.dataset), recipe.data.options, "data")
    check(
        "backend",
        lambda: registry.runtime(recipe.runtime.backend),
        recipe.runtime.options,
        "runtime",
    )
    if recipe.candidates is not None:
        first_stage = recipe.candidates.embedder
        check(
            "kind",
            lambda: registry.teacher("embedder", first_stage.kind),
            first_stage.options,
            "candidates.embedder",
        )
    from ragdistill.losses.compose import validate_loss_specs

    specs = [{"name": s.name, "weight": s.weight, **s.options} for s in recipe.losses]
    try:
        validate_loss_specs(specs, registry, stage)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


#: ``[train]`` options added after checkpoints were first fingerprinted, with their "off" value.
LATER_TRAIN_OPTIONS = {"teacher_pairs": False}


def recipe_fingerprint(recipe: Recipe) -> str:
    """What must match for a checkpoint to be resumed (not output paths or eval knobs)."""
    exclude = {"output", "evaluate", "cache_dir", "name"}
    if recipe.candidates is None:  # keeps fingerprints of recipes written before [candidates]
        exclude.add("candidates")
    data = recipe.model_dump(mode="json", exclude=exclude)
    # Options added later leave a recipe that does not use them its old fingerprint, so an
    # upgrade does not orphan the checkpoints of a run in progress.
    for key, off in LATER_TRAIN_OPTIONS.items():
        if data["train"].get(key) == off:
            del data["train"][key]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
