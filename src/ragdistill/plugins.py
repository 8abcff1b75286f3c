"""Building the plugin manager: built-ins, then entry points, then ``check_pending()``.

Nothing here runs at import. :func:`get_plugin_manager` builds a fresh manager each
time it is called (tests get their own); :func:`default_plugin_manager` memoises one
for the process. Plugins are selected by two environment variables:

* ``RAGDISTILL_LOAD_PLUGINS``: a comma-separated allow-list of entry-point plugin
  names; set but empty, no third-party plugin loads.
* ``RAGDISTILL_DISABLE_PLUGINS``: a comma-separated block-list.

A plugin that fails to import is reported by name (see :attr:`LoadReport.failed`) and
the others still load. A hook implementation that matches no hook fails loudly.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from ragdistill import __version__, hookspecs
from ragdistill.config import suggest
from ragdistill.errors import PluginError

log = logging.getLogger(__name__)

DEFAULT_PLUGINS = (
    "ragdistill.stages.embedder.plugin",
    "ragdistill.stages.reranker.plugin",
    "ragdistill.default_plugins.hf_components",
    "ragdistill.default_plugins.losses",
    "ragdistill.default_plugins.runtimes",
    "ragdistill.default_plugins.datasets",
    "ragdistill.default_plugins.model_sources",
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


def _selected(name: str, env: Mapping[str, str]) -> bool:
    allow = env.get(LOAD_ENV)
    if allow is not None and name not in _names(allow):
        return False
    return name not in _names(env.get(DISABLE_ENV, ""))


def _names(value: str) -> set[str]:
    return {part.strip() for part in value.split(",") if part.strip()}


def _load_entry_points(pm: RagdistillPluginManager, env: Mapping[str, str]) -> None:
    for ep in sorted(
        metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda e: e.name
    ):
        dist = ep.dist.name if ep.dist else None
        if not _selected(ep.name, env):
            pm.report.skipped.append(ep.name)
            continue
        if pm.has_plugin(ep.name):
            raise PluginError(
                f"two plugins are named {ep.name!r} (one from distribution {dist!r}); "
                f"uninstall one, or block it with {DISABLE_ENV}={ep.name}"
            )
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not take the others down
            message = f"{type(exc).__name__}: {exc}"
            pm.report.failed.append(FailedPlugin(ep.name, dist, message))
            log.warning(
                "ragdistill plugin %r (from %s) failed to load and was skipped: %s. "
                "Fix or uninstall it, or silence this with %s=%s",
                ep.name, dist, message, DISABLE_ENV, ep.name,
            )  # fmt: skip
            continue
        pm.register(plugin, name=ep.name)
        version = ep.dist.version if ep.dist else None
        pm.report.loaded[ep.name] = PluginInfo(ep.name, version, dist, False)


def check_hooks(pm: pluggy.PluginManager) -> None:
    """``check_pending()`` with a message naming the plugin, hook and likely intent."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        plugin_name = pm.get_name(exc.plugin) or repr(exc.plugin)
        known = set(hookspecs.hook_names())
        unknown = [
            name
            for name in dir(exc.plugin)
            if hasattr(getattr(exc.plugin, name, None), f"{hookspecs.PROJECT_NAME}_impl")
            and name not in known
        ] or ["?"]
        hints = []
        for name in unknown:
            close = suggest(name, hookspecs.hook_names())
            hints.append(f"{name!r}" + (f" (did you mean {close!r}?)" if close else ""))
        raise PluginError(
            f"plugin {plugin_name!r} implements unknown hook {', '.join(hints)}; "
            f"valid hooks: {', '.join(hookspecs.hook_names())}. Fix the hook name, or "
            f"skip the plugin with {DISABLE_ENV}={plugin_name}"
        ) from exc


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
