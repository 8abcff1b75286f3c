"""TOML recipes: one distillation, validated in full before any model loads."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ragdistill.config import article, format_validation_error, validate_options
from ragdistill.errors import ConfigError
from ragdistill.recipes.schema import Recipe

if TYPE_CHECKING:
    from ragdistill.registry import Registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# tomllib: the stdlib module or its backport, for the modules that read TOML too.
__all__ = ["Recipe", "load_recipe", "parse_recipe", "recipe_fingerprint", "tomllib"]


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
    from ragdistill.registry import default_registry

    registry = default_registry()
    _check_stage_tables(data, registry, where)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            f"{where}: " + format_validation_error(exc, where="", model=Recipe)
        ) from None
    stage = registry.stage(recipe.stage)
    try:
        options = stage.Options.model_validate(recipe.stage_options)
    except ValidationError as exc:
        raise ConfigError(
            f"{where}: " + format_validation_error(exc, where=recipe.stage, model=stage.Options)
        ) from None
    # Defaults filled in, so recipe.json and the fingerprint say what actually ran.
    recipe.stage_options = options.model_dump(mode="json")
    _check_plugins(recipe, where)
    stage().check_recipe(recipe, registry, where)
    return recipe


def _check_stage_tables(data: dict[str, Any], registry: Registry, where: str) -> None:
    """A registered stage, no other stage's table, and no option a stage took over from
    the shared sections (the error names its new place)."""
    stage = data.get("stage")
    if isinstance(stage, str):
        try:
            registry.stage(stage)
        except ConfigError as exc:
            raise ConfigError(f"{where}: stage: {exc}") from None
    for name in registry.stage_names():
        if name != stage and isinstance(data.get(name), dict):
            raise ConfigError(
                f"{where}: [{name}] holds the {name} stage's options, but this is {article(stage)} {stage} "
                f"recipe; remove the table, or set stage = {name!r}"
            )
        for old, option in registry.stage(name).moved_options.items():
            if _lookup(data, old) is _MISSING:
                continue
            if data.get("stage") == name:
                value = _lookup(data, old)
                where_now = (
                    f"as the table [{name}.{option}]"
                    if isinstance(value, dict)
                    else f"as `{option} = ...` under [{name}]"
                )
                raise ConfigError(
                    f"{where}: {old} is now an option of the {name} stage: move it {where_now}"
                )
            raise ConfigError(
                f"{where}: {old} is an option of the {name} stage ([{name}] {option}); "
                f"remove it from this {data.get('stage')} recipe"
            )


_MISSING = object()


def _lookup(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


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
    from ragdistill.losses.compose import validate_loss_specs

    specs = [{"name": s.name, "weight": s.weight, **s.options} for s in recipe.losses]
    try:
        validate_loss_specs(specs, registry, stage)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def recipe_fingerprint(recipe: Recipe) -> str:
    """What must match for a checkpoint to be resumed (not output paths or eval knobs)."""
    from ragdistill.registry import default_registry

    stage = default_registry().stage(recipe.stage)
    data = recipe.model_dump(mode="json", exclude={"output", "evaluate", "cache_dir", "name"})
    options = dict(data.pop("stage_options"))
    # Options added later leave a recipe that does not use them its old fingerprint, so an
    # upgrade does not orphan the checkpoints of a run in progress.
    for key, off in stage.later_options.items():
        if options.get(key, off) == off:
            options.pop(key, None)
    # An option a stage took over is hashed where it used to be, for the same reason.
    for old, option in stage.moved_options.items():
        if option in options:
            *parents, leaf = old.split(".")
            node = data
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = options.pop(option)
    if options:
        data["stage_options"] = options
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
