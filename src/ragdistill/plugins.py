"""Building the plugin manager: built-ins, then entry points, then ``check_pending()``.

Nothing here runs at import. :func:`get_plugin_manager` builds a fresh manager each
time it is called (tests get their own); :func:`default_plugin_manager` memoises one
for the process. Plugins are selected by two environment variables, each a
comma-separated list of entry-point names (``name``) or, to pick one of two
distributions that use the same name, ``distribution:name``:

* ``RAGDISTILL_LOAD_PLUGINS``: an allow-list; set but empty, no third-party plugin loads.
* ``RAGDISTILL_DISABLE_PLUGINS``: a block-list.

A name in either list that matches no installed plugin is logged as a warning.

A broken third-party plugin never takes the others (or the command line) down: it is
logged, skipped and listed in :attr:`LoadReport.failed` with the reason, which
``ragdistill plugins`` prints. That covers a plugin that fails to import, a hook
implementation whose arguments do not match the hook, a hook name that matches no hook
(unregistered again, with a suggestion), and a second distribution using an
entry-point name already taken (the first, by distribution name, is kept). What a
plugin *registers* is checked when a registry is built; a plugin failing there is
dropped whole (see :func:`ragdistill.registry.build_registry`), and a command-name
clash keeps the first plugin's command (see :func:`ragdistill.cli.build_cli`). A
built-in plugin that breaks is a bug in ragdistill and raises :class:`PluginError`.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from ragdistill import __version__, hookspecs, provenance
from ragdistill.config import suggest
from ragdistill.errors import PluginError

log = logging.getLogger(__name__)

DEFAULT_PLUGINS = (
    "ragdistill.stages.embedder.plugin",
    "ragdistill.stages.reranker.plugin",
    "ragdistill.stages.generator.plugin",
    "ragdistill.stages.query_transformer.plugin",
    "ragdistill.default_plugins.hf_components",
    "ragdistill.default_plugins.losses",
    "ragdistill.default_plugins.runtimes",
    "ragdistill.default_plugins.datasets",
    "ragdistill.default_plugins.model_sources",
    "ragdistill.default_plugins.callbacks",
    "ragdistill.default_plugins.commands",
)
LOAD_ENV = "RAGDISTILL_LOAD_PLUGINS"
DISABLE_ENV = "RAGDISTILL_DISABLE_PLUGINS"


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str | None
    distribution: str | None
    builtin: bool


@dataclass(frozen=True)
class FailedPlugin:
    name: str
    distribution: str | None
    error: str


@dataclass
class LoadReport:
    """What the factory loaded, skipped and failed to load."""

    loaded: dict[str, PluginInfo] = field(default_factory=dict)
    failed: list[FailedPlugin] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class RagdistillPluginManager(pluggy.PluginManager):
    report: LoadReport


def get_plugin_manager(
    *, entry_points: bool = True, env: Mapping[str, str] | None = None
) -> RagdistillPluginManager:
    """A fresh plugin manager with the built-ins and (optionally) installed plugins."""
    env = os.environ if env is None else env
    provenance.forget()  # a plugin installed or upgraded since: rescan its distribution
    pm = RagdistillPluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.report = LoadReport()
    for module_name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
        pm.report.loaded[module_name] = PluginInfo(module_name, __version__, "ragdistill", True)
    if entry_points:
        _load_entry_points(pm, env)
    check_hooks(pm)
    return pm


def is_builtin(plugin_name: str) -> bool:
    """Whether a plugin ships with ragdistill (its failures are bugs, and raise)."""
    return plugin_name in DEFAULT_PLUGINS


def distribution_of(pm: pluggy.PluginManager, plugin_name: str) -> str | None:
    """The distribution a loaded plugin came from (None for one registered by hand)."""
    report: LoadReport | None = getattr(pm, "report", None)
    info = report.loaded.get(plugin_name) if report else None
    return info.distribution if info else None


def log_failure(
    name: str, dist: str | None, error: str, *, outcome: str = "failed and was skipped"
) -> None:
    """Warn that a plugin (or part of it) was skipped, and how to silence the warning."""
    hint = (
        ""
        if DISABLE_ENV in error
        else f" Fix or uninstall it, or silence this with {DISABLE_ENV}={name}"
    )
    log.warning("ragdistill plugin %r (from %s) %s: %s.%s", name, dist, outcome, error.rstrip("."), hint)  # fmt: skip


def _fail(pm: RagdistillPluginManager, name: str, dist: str | None, error: str) -> None:
    pm.report.failed.append(FailedPlugin(name, dist, error))
    log_failure(name, dist, error)


def _canonical(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _keys(name: str, dist: str | None) -> set[str]:
    """What selects an entry point in the environment variables: its name, ``dist:name``."""
    return {name} | ({f"{_canonical(dist)}:{name}"} if dist else set())


def _names(value: str) -> set[str]:
    names = set()
    for part in value.split(","):
        dist, sep, name = part.strip().rpartition(":")
        if name.strip():
            names.add(f"{_canonical(dist.strip())}:{name.strip()}" if sep else name.strip())
    return names


def _load_entry_points(pm: RagdistillPluginManager, env: Mapping[str, str]) -> None:
    allow = _names(env[LOAD_ENV]) if LOAD_ENV in env else None
    block = _names(env.get(DISABLE_ENV, ""))
    seen: set[str] = set()  # every name an installed entry point answers to
    chosen: dict[str, str | None] = {}  # entry-point name -> its distribution
    found = list(metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP))
    for ep in sorted(found, key=lambda e: (e.name, _canonical(e.dist.name) if e.dist else "")):
        dist = ep.dist.name if ep.dist else None
        keys = _keys(ep.name, dist)
        seen |= keys
        if (allow is not None and not keys & allow) or keys & block:
            pm.report.skipped.append(ep.name)
            continue
        if ep.name in chosen:
            first, key = chosen[ep.name], f"{_canonical(dist or '?')}:{ep.name}"
            _fail(pm, ep.name, dist, (
                f"two distributions provide a plugin named {ep.name!r}: {first!r} (kept) and "
                f"{dist!r} (skipped); uninstall one, or choose with {DISABLE_ENV}={key}"
            ))  # fmt: skip
            continue
        chosen[ep.name] = dist
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not take the others down
            _fail(pm, ep.name, dist, f"{type(exc).__name__}: {exc}")
            continue
        try:
            pm.register(plugin, name=ep.name)
        except pluggy.PluginValidationError as exc:  # pluggy changed nothing
            _fail(pm, ep.name, dist, _signature_problem(pm, plugin, exc))
            continue
        except ValueError as exc:  # its name or module is already registered
            _fail(pm, ep.name, dist, str(exc).splitlines()[0])
            continue
        version = ep.dist.version if ep.dist else None
        pm.report.loaded[ep.name] = PluginInfo(ep.name, version, dist, False)
    installed = ", ".join(sorted({ep.name for ep in found})) or "none"
    for variable, names in ((LOAD_ENV, allow or set()), (DISABLE_ENV, block)):
        for unknown in sorted(names - seen):
            log.warning(
                "%s names %r, but no installed ragdistill plugin is called that; give an "
                "entry-point name or distribution:name (installed: %s)",
                variable, unknown, installed,
            )  # fmt: skip


def _signature_problem(pm: pluggy.PluginManager, plugin: object, exc: Exception) -> str:
    """One line saying which hook implementation takes which wrong argument(s)."""
    for attr in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        hook = (opts.get("specname") or attr) if opts is not None else ""
        if hook not in hookspecs.hook_names():
            continue
        expected = list(inspect.signature(getattr(hookspecs, hook)).parameters)
        wrong = [
            p for p in inspect.signature(getattr(plugin, attr)).parameters if p not in expected
        ]
        if wrong:
            return (
                f"its {hook} hook takes {', '.join(map(repr, wrong))}, but {hook} passes "
                f"{', '.join(map(repr, expected))}: define it as def {hook}({', '.join(expected)})"
            )
    return " ".join(str(exc).split())


def check_hooks(pm: RagdistillPluginManager) -> None:
    """``check_pending()``: a third-party plugin implementing a hook that does not exist is
    unregistered and reported failed, naming the plugin, hook and likely intent."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            plugin_name = pm.get_name(exc.plugin) or repr(exc.plugin)
            message = _unknown_hook_message(plugin_name, exc.plugin)
            info = pm.report.loaded.get(plugin_name)
            if info is None or info.builtin:
                raise PluginError(message) from exc
            pm.unregister(exc.plugin)
            del pm.report.loaded[plugin_name]
            _fail(pm, plugin_name, info.distribution, message)


def _unknown_hook_message(plugin_name: str, plugin: object) -> str:
    known = set(hookspecs.hook_names())
    unknown = [
        name
        for name in dir(plugin)
        if hasattr(getattr(plugin, name, None), f"{hookspecs.PROJECT_NAME}_impl")
        and name not in known
    ] or ["?"]
    hints = []
    for name in unknown:
        close = suggest(name, hookspecs.hook_names())
        hints.append(f"{name!r}" + (f" (did you mean {close!r}?)" if close else ""))
    return (
        f"plugin {plugin_name!r} implements unknown hook {', '.join(hints)}; "
        f"valid hooks: {', '.join(hookspecs.hook_names())}. Fix the hook name, or "
        f"silence this with {DISABLE_ENV}={plugin_name}"
    )


def plugin_hooks(pm: pluggy.PluginManager, plugin_name: str) -> list[str]:
    """Names of the hooks a registered plugin implements."""
    plugin = pm.get_plugin(plugin_name)
    callers = pm.get_hookcallers(plugin) or []
    return sorted(caller.name for caller in callers)


_default: RagdistillPluginManager | None = None


def default_plugin_manager() -> RagdistillPluginManager:
    """The process-wide manager, built on first use (never at import)."""
    global _default
    if _default is None:
        _default = get_plugin_manager()
    return _default


def reset() -> None:
    """Forget the process-wide manager (tests; after installing a plugin).

    The registry built from it is rebuilt on its next use.
    """
    global _default
    _default = None
