"""TOML recipes: one distillation, validated in full before any model loads.

"In full": besides the recipe's own sections, every pluggable table is validated against
its registered class and that class is *constructed* from it (teacher, ensemble members
and all, student, dataset loader, runtime, losses, callbacks), so the range checks in
their ``__init__`` run now; components load their models lazily, so this loads none.
Each ``[plugins.<name>]`` table is validated by the model its plugin registered. Errors
name the table: ``[teacher] ...``, ``[teacher.members[1]] ...``. A credential written
in a recipe is refused (:mod:`ragdistill.credentials`): keys come from the
environment (``api_key_env = "NAME"``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ragdistill.config import article, build_checked, format_validation_error
from ragdistill.credentials import mask_secrets, refuse_secrets
from ragdistill.errors import ConfigError
from ragdistill.recipes.schema import Recipe

if TYPE_CHECKING:
    from ragdistill.registry import Registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# tomllib: the stdlib module or its backport, for the modules that read TOML too.
__all__ = [
    "OPERATIONAL_OPTIONS",
    "Recipe",
    "load_recipe",
    "parse_recipe",
    "recipe_fingerprint",
    "recipe_fingerprints",
    "tomllib",
]


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
    """Validate a recipe's ``data`` in full; credentials written in it are refused first,
    so no later error can show one (see :mod:`ragdistill.credentials`)."""
    from ragdistill.registry import default_registry

    refuse_secrets(data, where)
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
    recipe.plugins = _plugin_tables(recipe.plugins, registry, where)
    _check_plugins(recipe, registry, where)
    stage().check_recipe(recipe, registry, where)
    if recipe.sweep is not None:  # a typo in the tenth candidate fails now, not hours in
        from ragdistill.recipes.candidates import candidate_recipe

        for candidate in recipe.sweep.candidates:
            candidate_recipe(recipe, candidate, Path(recipe.output), parse_recipe)
    return recipe


def _check_stage_tables(data: dict[str, Any], registry: Registry, where: str) -> None:
    """A registered stage, no other stage's table, and no option a stage took over from
    the shared sections (the error names its new place)."""
    stage = data.get("stage")
    if isinstance(stage, str) and stage not in registry.stage_names():
        teachers = sorted(e.name for e in registry.entries("teacher", stage=stage))
        if teachers:  # a contract with components, but nothing that distills it
            raise ConfigError(
                f"{where}: stage: {stage!r} cannot be distilled: teachers for it are "
                f"registered ({', '.join(teachers)}) but no installed plugin registers a "
                f"{stage} stage (its distillation pipeline). Distillable stages: "
                f"{', '.join(registry.stage_names())}"
            )
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


def _plugin_tables(tables: dict[str, Any], registry: Registry, where: str) -> dict[str, Any]:
    """Each ``[plugins.<name>]`` table validated by the model the plugin registered."""
    known = sorted(e.name for e in registry.entries("recipe_options"))
    out: dict[str, Any] = {}
    for name, table in tables.items():
        label = f"plugins.{name}"
        if name not in known:
            raise ConfigError(
                f"{where}: [{label}] no installed plugin owns a [plugins.{name}] table; "
                f"tables plugins registered: {', '.join(known) or 'none'}. Install the plugin, "
                f"or check `ragdistill plugins`"
            )
        if isinstance(table, BaseModel):
            table = table.model_dump()
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [{label}] must be a table, got {table!r:.60}")
        model = registry.recipe_options(name)
        try:
            out[name] = model.model_validate(table)
        except ValidationError as exc:
            message = format_validation_error(exc, where=label, model=model)
            raise ConfigError(f"{where}: [{label}] {message}") from None
    return out


def _check_plugins(recipe: Recipe, registry: Registry, where: str) -> None:
    """Build each pluggable object from its table, as a run would; loads no model.

    The class is looked up, its options validated against its ``__init__`` and the object
    constructed, so range checks inside ``__init__`` (and in nested tables, such as an
    ensemble teacher's members) fail here, naming the table.
    """
    stage = recipe.stage

    def check(table: str, key: str, lookup: Any, options: dict[str, Any]) -> None:
        try:
            cls = lookup()
        except ConfigError as exc:
            raise ConfigError(f"{where}: [{table}] {key}: {exc}") from None
        try:
            build_checked(cls, options, table)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    teacher, student = recipe.teacher, recipe.student
    check("teacher", "kind", lambda: registry.teacher(stage, teacher.kind), teacher.options)
    check("student", "kind", lambda: registry.student(stage, student.kind), student.options)
    check("data", "dataset", lambda: registry.dataset(recipe.data.dataset), recipe.data.options)
    runtime = recipe.runtime
    check("runtime", "backend", lambda: registry.runtime(runtime.backend), runtime.options)
    for i, name in enumerate(recipe.train.callbacks):
        check(f"train.callbacks[{i}]", repr(name), lambda n=name: registry.callback(n), {})
    from ragdistill.losses.compose import validate_loss_specs

    specs = [{"name": s.name, "weight": s.weight, **s.options} for s in recipe.losses]
    try:
        validate_loss_specs(specs, registry, stage)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


#: Options that say where, or in what slices, work runs, never what a student learns: a
#: run resumes when only these changed (a CPU run continued on a GPU, a smaller teacher
#: batch after running out of memory). Teacher outputs come from the teacher cache,
#: keyed by the teacher's identity, whatever the batch or device that computed them.
OPERATIONAL_OPTIONS: dict[str, frozenset[str]] = {
    "runtime": frozenset({"device", "threads", "provider"}),
    "teacher": frozenset({"device", "batch_size"}),
    "student": frozenset({"device"}),
    "train": frozenset({"checkpoint_every", "keep_checkpoints", "teacher_batch_size"}),
}


def recipe_fingerprint(recipe: Recipe) -> str:
    """What must match for a checkpoint to be resumed: not output paths, eval knobs or
    :data:`OPERATIONAL_OPTIONS`, which hash at their defaults."""
    return recipe_fingerprints(recipe)[0]


def recipe_fingerprints(recipe: Recipe) -> tuple[str, ...]:
    """:func:`recipe_fingerprint`, then the fingerprint checkpoints of this recipe carried
    before operational options left it (when that differs): pass both to the training
    loop so a run begun before the change still resumes."""
    data = _fingerprinted(recipe)
    before = _digest(data)
    defaults = type(recipe.train)()
    for section, keys in OPERATIONAL_OPTIONS.items():
        table = data.get(section) or {}
        if section == "train":  # fields: hashed at their defaults, as most recipes have them
            table.update({key: getattr(defaults, key) for key in keys & set(table)})
            continue
        # Options of a pluggable table (and of its ensemble members): hashed as if unset.
        for options in (table, *table.get("members", ())):
            for key in keys & set(options):
                del options[key]
    now = _digest(data)
    return (now,) if now == before else (now, before)


def _digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _fingerprinted(recipe: Recipe) -> dict[str, Any]:
    from ragdistill.registry import default_registry

    stage = default_registry().stage(recipe.stage)
    data = recipe.model_dump(
        mode="json", exclude={"output", "evaluate", "cache_dir", "name", "plugins", "sweep"}
    )
    # Callbacks only observe: a run resumes whichever are enabled.
    data["train"].pop("callbacks", None)
    # A recipe without fingerprinted [plugins.*] options hashes as it did before they existed.
    if plugins := _fingerprinted_plugins(recipe.plugins):
        data["plugins"] = plugins
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
    return data


def _fingerprinted_plugins(tables: dict[str, Any]) -> dict[str, Any]:
    """The plugin tables' non-default values, less tables whose model opts out."""
    out = {}
    for name, table in tables.items():
        if isinstance(table, BaseModel):
            if not getattr(type(table), "in_fingerprint", True):
                continue
            table = table.model_dump(mode="json", exclude_defaults=True)
        if table:
            out[name] = table
    return out


def public_recipe(recipe: Recipe) -> dict[str, Any]:
    """The recipe as JSON data for ``recipe.json`` and manifests, credentials masked.

    A parsed recipe holds none (:func:`~ragdistill.credentials.refuse_secrets`); a
    :class:`Recipe` built in code might, and its key must not travel with the run folder
    or the artifact.
    """
    masked: dict[str, Any] = mask_secrets(json.loads(recipe.model_dump_json()))
    return masked
