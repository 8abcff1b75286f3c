"""Everything the plugins registered, looked up by kind, stage and name.

The registry calls each ``register_*`` hook implementation itself (through pluggy's
public ``get_hookimpls``) so it knows which plugin registered what: a duplicate name
is reported against both plugins, and ``ragdistill plugins`` can list each plugin's
contributions.

A third-party plugin is dropped whole when one of its hooks raises or registers
something invalid (a duplicate name, a class of the wrong kind, a loss or student
without a stage): none of its registrations are kept, the rest of the registry works,
and :attr:`Registry.failed` (printed by ``ragdistill plugins``) says why. When two
plugins register one name, the first keeps it (the built-ins register first, then the
entry points by name). A built-in plugin's failure is a bug and raises
:class:`~ragdistill.errors.PluginError`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from ragdistill.config import suggest
from ragdistill.contracts import STAGES, Stage, stage_of
from ragdistill.errors import MissingDependencyError, PluginError, UnknownNameError
from ragdistill.plugins import (
    FailedPlugin,
    default_plugin_manager,
    distribution_of,
    is_builtin,
    log_failure,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ragdistill.callbacks import TrainingCallback
    from ragdistill.contracts import Component
    from ragdistill.datasets import DatasetLoader
    from ragdistill.losses.base import DistillationLoss
    from ragdistill.models.sources import ModelSource
    from ragdistill.runtime import RuntimeBackend
    from ragdistill.stage import DistillationStage
    from ragdistill.students import Student

Kind = Literal[
    "stage", "teacher", "student", "loss", "runtime", "dataset", "model_source", "callback",
    "recipe_options",
]  # fmt: skip
HOOK_OF_KIND: dict[Kind, str] = {
    "stage": "register_stages",
    "teacher": "register_teachers",
    "student": "register_students",
    "loss": "register_losses",
    "runtime": "register_runtimes",
    "dataset": "register_datasets",
    "model_source": "register_model_sources",
    "callback": "register_callbacks",
    "recipe_options": "register_recipe_options",
}


@dataclass(frozen=True)
class Entry:
    kind: Kind
    name: str
    obj: type
    plugin: str
    stage: Stage | None = None

    @property
    def key(self) -> tuple[Kind, Stage | None, str]:
        return (self.kind, self.stage, self.name)


#: Top-level recipe keys: a stage of one of these names could not have its ``[<stage>]`` table.
RESERVED_STAGE_NAMES = frozenset(
    {"stage", "name", "output", "cache_dir", "teacher", "student", "data", "losses", "train",
     "runtime", "evaluate", "stage_options", "plugins"}
)  # fmt: skip


def _base_class(kind: Kind) -> type | None:
    # Imported on demand: the loss and student bases pull in torch.
    if kind == "stage":
        from ragdistill.stage import DistillationStage

        return DistillationStage
    if kind == "loss":
        from ragdistill.losses.base import DistillationLoss

        return DistillationLoss
    if kind == "student":
        from ragdistill.students import Student

        return Student
    if kind == "runtime":
        from ragdistill.runtime import RuntimeBackend

        return RuntimeBackend
    if kind == "dataset":
        from ragdistill.datasets import DatasetLoader

        return DatasetLoader
    if kind == "model_source":
        from ragdistill.models.sources import ModelSource

        return ModelSource
    if kind == "callback":
        from ragdistill.callbacks import TrainingCallback

        return TrainingCallback
    if kind == "recipe_options":
        from pydantic import BaseModel

        return BaseModel
    return None


class Registry:
    """What a plugin manager's plugins registered. Build with :func:`build_registry`."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Kind, Stage | None, str], Entry] = {}
        #: (plugin, hook, reason) for hooks skipped because an optional library is absent.
        self.unavailable: list[tuple[str, str, str]] = []
        #: Third-party plugins dropped whole because they registered something invalid.
        self.failed: list[FailedPlugin] = []

    def add(self, kind: Kind, name: str, obj: Any, *, plugin: str) -> None:
        hook = HOOK_OF_KIND[kind]
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r}: {hook} registered a name that is not a string")
        if not isinstance(obj, type):
            raise PluginError(f"plugin {plugin!r}: {hook}({name!r}, ...) must register a class")
        base = _base_class(kind)
        if base is not None and not issubclass(obj, base):
            raise PluginError(
                f"plugin {plugin!r}: {hook}({name!r}, {obj.__qualname__}) must register a "
                f"subclass of {base.__module__}.{base.__qualname__}"
            )
        stage: Stage | None = None
        if kind in ("teacher", "student", "loss"):
            try:  # a student or loss without `stage` fails right here, not at its first use
                stage = stage_of(obj) if kind == "teacher" else getattr(obj, "stage", None)
            except TypeError as exc:
                raise PluginError(f"plugin {plugin!r}: {hook}({name!r}, ...): {exc}") from None
            if not (isinstance(stage, str) and stage):
                raise PluginError(
                    f"plugin {plugin!r}: {kind} {name!r} ({obj.__qualname__}) has no stage; set "
                    f"its class attribute `stage` to the name of the stage it serves, e.g. one "
                    f"of {', '.join(STAGES)}"
                )
        if kind == "loss":
            stage = None  # losses are looked up by name alone; the listing shows their stage
        if kind == "stage":
            _check_stage(name, obj, plugin)
        entry = Entry(kind, name, obj, plugin, stage)
        if (old := self._entries.get(entry.key)) is not None:
            what = f"{stage} {kind}" if stage else kind
            raise PluginError(
                f"duplicate {what} name {name!r}: registered by plugin {old.plugin!r} and by "
                f"plugin {plugin!r}. Rename it in one plugin's {hook} hook, or disable one "
                f"plugin with RAGDISTILL_DISABLE_PLUGINS=<plugin name>"
            )
        self._entries[entry.key] = entry

    def entries(self, kind: Kind | None = None, *, stage: Stage | None = None) -> list[Entry]:
        return [
            e
            for e in self._entries.values()
            if (kind is None or e.kind == kind) and (stage is None or e.stage == stage)
        ]

    def get(self, kind: Kind, name: str, *, stage: Stage | None = None) -> type:
        entry = self._entries.get((kind, stage, name))
        if entry is None:
            names = sorted(e.name for e in self.entries(kind, stage=stage))
            what = f"{stage} {kind}" if stage else kind
            close = suggest(name, names)
            hint = f"did you mean {close!r}? " if close else ""
            missing = [r for _, h, r in self.unavailable if h == HOOK_OF_KIND[kind]]
            if missing:
                hint += f"(some {kind}s are unavailable: {missing[0]}) "
            raise UnknownNameError(
                f"no {what} named {name!r}; {hint}available: {', '.join(names) or 'none'}. "
                f"Install the plugin that provides it, or check `ragdistill plugins`"
            )
        return entry.obj

    def stage(self, name: str) -> type[DistillationStage[Any]]:
        cls: type[DistillationStage[Any]] = self.get("stage", name)
        return cls

    def stage_names(self) -> list[str]:
        """Registered stages, in registration order (the built-ins first)."""
        return [e.name for e in self.entries("stage")]

    # :meth:`add` checked each kind's base class (a teacher's contract), so the
    # lookups below return what they annotate.
    def teacher(self, stage: Stage, name: str) -> type[Component]:
        cls: type[Component] = self.get("teacher", name, stage=stage)
        return cls

    def student(self, stage: Stage, name: str) -> type[Student]:
        cls: type[Student] = self.get("student", name, stage=stage)
        return cls

    def loss(self, name: str) -> type[DistillationLoss]:
        cls: type[DistillationLoss] = self.get("loss", name)
        return cls

    def runtime(self, name: str) -> type[RuntimeBackend]:
        cls: type[RuntimeBackend] = self.get("runtime", name)
        return cls

    def dataset(self, name: str) -> type[DatasetLoader]:
        cls: type[DatasetLoader] = self.get("dataset", name)
        return cls

    def model_source(self, name: str) -> type[ModelSource]:
        cls: type[ModelSource] = self.get("model_source", name)
        return cls

    def callback(self, name: str) -> type[TrainingCallback]:
        cls: type[TrainingCallback] = self.get("callback", name)
        return cls

    def recipe_options(self, name: str) -> type[BaseModel]:
        """The model of the recipe table ``[plugins.<name>]``."""
        cls: type[BaseModel] = self.get("recipe_options", name)
        return cls

    def by_plugin(self, plugin: str) -> list[Entry]:
        return [e for e in self._entries.values() if e.plugin == plugin]

    def drop(self, plugin: str, *, distribution: str | None, error: str) -> None:
        """Forget everything ``plugin`` registered and record it as failed."""
        for entry in self.by_plugin(plugin):
            del self._entries[entry.key]
        self.unavailable = [u for u in self.unavailable if u[0] != plugin]
        self.failed.append(FailedPlugin(plugin, distribution, error))
        log_failure(plugin, distribution, error)


def _check_stage(name: str, cls: type, plugin: str) -> None:
    where = f"plugin {plugin!r}: register_stages({name!r}, {cls.__qualname__})"
    if not name.isidentifier() or name in RESERVED_STAGE_NAMES:
        raise PluginError(
            f"{where}: a stage name must be an identifier and not a recipe section "
            f"({', '.join(sorted(RESERVED_STAGE_NAMES))}); rename the stage"
        )
    contract = getattr(cls, "contract", None)
    if not (isinstance(contract, type) and getattr(contract, "stage", None) == name):
        raise PluginError(
            f"{where}: its `contract` must be a component contract whose `stage` is {name!r} "
            f"(got {getattr(contract, '__qualname__', contract)!r}); set both to one name"
        )
    if inspect.isabstract(cls):
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        raise PluginError(
            f"{where}: it cannot run: it does not implement {', '.join(missing)}. A stage "
            f"supplies its distillation pipeline (distill) and its A/B (ab_for_recipe, "
            f"ab_summary, ab_command)"
        )


def build_registry(
    pm: pluggy.PluginManager, kinds: Iterable[Kind] = tuple(HOOK_OF_KIND)
) -> Registry:
    """Call every ``register_*`` hook of every plugin and collect what they register.

    One plugin at a time, in registration order: the built-ins, then entry points by
    name. A third-party plugin whose hook raises, or that registers anything invalid, is
    dropped whole and listed in :attr:`Registry.failed`; a built-in's raises.
    """
    registry = Registry()
    kinds = tuple(kinds)
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        try:
            _register_plugin(pm, registry, name, kinds)
        except PluginError as exc:
            if is_builtin(name):
                raise
            registry.drop(name, distribution=distribution_of(pm, name), error=str(exc))
    return registry


def _register_plugin(
    pm: pluggy.PluginManager, registry: Registry, plugin: str, kinds: tuple[Kind, ...]
) -> None:
    for kind in kinds:
        hook = HOOK_OF_KIND[kind]
        for impl in getattr(pm.hook, hook).get_hookimpls():
            if impl.plugin_name != plugin:
                continue
            try:
                impl.function(register=_register_for(registry, kind, plugin))
            except MissingDependencyError as exc:
                # An optional library (torch for the losses) is not installed: what it
                # would register is absent, and lookups say why.
                registry.unavailable.append((plugin, hook, str(exc)))
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {plugin!r}: its {hook} hook raised {type(exc).__name__}: {exc}"
                ) from exc


def _register_for(registry: Registry, kind: Kind, plugin: str) -> Callable[[str, Any], None]:
    def register(name: str, obj: Any) -> None:
        registry.add(kind, name, obj, plugin=plugin)

    return register


_defaults: dict[tuple[Kind, ...], tuple[pluggy.PluginManager, Registry]] = {}


def default_registry(kinds: Iterable[Kind] = tuple(HOOK_OF_KIND)) -> Registry:
    """The registry of the process-wide plugin manager, built on first use.

    Rebuilt when :func:`ragdistill.plugins.reset` has replaced that manager. The CLI
    asks for ``kinds=("stage",)`` where the full registry would import torch.
    """
    pm, kinds = default_plugin_manager(), tuple(kinds)
    cached = _defaults.get(kinds)
    if cached is None or cached[0] is not pm:
        cached = _defaults[kinds] = (pm, build_registry(pm, kinds))
    return cached[1]


def reset() -> None:
    """Forget the process-wide registries; the next use rebuilds them from the same manager
    (after registering a plugin on it by hand). :func:`ragdistill.plugins.reset` also
    replaces the manager."""
    _defaults.clear()


def build_members(
    specs: Iterable[Any], *, stage: Stage, contract: type, ensemble: type, example: str
) -> list[Any]:
    """The members of an ensemble teacher of ``stage``, built from their tables.

    A bad table is a :class:`ConfigError` starting ``[members[i]]``, which recipe
    validation nests as ``[teacher.members[i]]``; ``example`` is a member table to show.
    A member must subclass ``contract`` and may not itself be an ``ensemble``.
    """
    return [_member(s, i, stage, contract, ensemble, example) for i, s in enumerate(specs)]


def _member(spec: Any, index: int, stage: Stage, contract: type, ensemble: type,
            example: str) -> Any:  # fmt: skip
    from ragdistill.config import article, build_checked
    from ragdistill.errors import ConfigError, ContractError

    table = f"members[{index}]"
    if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str):
        raise ConfigError(
            f"[{table}] expected a table naming {article(stage)} {stage}, e.g. {example}, "
            f"got {spec!r:.80}"
        )
    options = {k: v for k, v in spec.items() if k != "kind"}
    try:
        cls = default_registry().teacher(stage, spec["kind"])
    except ConfigError as exc:
        raise ConfigError(f"[{table}] kind: {exc}") from None
    if cls is ensemble:
        raise ConfigError(f"[{table}] an ensemble cannot contain another ensemble")
    member = build_checked(cls, options, table)
    if not isinstance(member, contract):  # a plugin's teacher must subclass the contract
        raise ContractError(
            f"{table}: {type(member).__qualname__} is registered as {article(stage)} {stage} "
            f"teacher but does not subclass ragdistill.contracts.{contract.__name__}"
        )
    return member
