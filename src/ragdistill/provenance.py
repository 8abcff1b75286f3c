"""Which installed distribution a class comes from: part of a teacher's cache identity.

A teacher cache is keyed by the teacher's ``describe()`` (class and options). That
misses a plugin release that changes what a component computes for the same options, so
:meth:`ragdistill.contracts.Component.describe` adds :func:`origin`:

* ``cache_version``, when the class (or a base) declares ``cache_version: ClassVar[str]``:
  bump it and every cache of the component refills;
* ``distribution`` (name and version), for a class shipped by a third-party
  distribution that does not declare ``cache_version`` in its own class body: upgrading
  the plugin refills its caches.

Built-in classes (``ragdistill.*``) that declare no ``cache_version`` add nothing, so the
caches written before this existed stay valid. A plugin's distribution is found from the
entry points of the ``ragdistill`` group (the top-level package of each entry point's
module), then from :func:`importlib.metadata.packages_distributions`: the answer depends
on what is installed, never on whether a registry was built.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata
from typing import Any

from ragdistill.hookspecs import ENTRY_POINT_GROUP

BUILTIN_PACKAGE = "ragdistill"


@cache
def _plugin_packages() -> dict[str, tuple[str, str]]:
    """Top-level import name -> (distribution, version), from the plugins' entry points."""
    found: dict[str, tuple[str, str]] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.dist is not None:
            found.setdefault(ep.module.partition(".")[0], (ep.dist.name, ep.dist.version))
    return found


@cache
def _installed_packages() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())


def distribution_of(cls: type) -> tuple[str, str] | None:
    """``(name, version)`` of the third-party distribution that ships ``cls``, if any."""
    top = cls.__module__.partition(".")[0]
    if top == BUILTIN_PACKAGE:
        return None
    if top in _plugin_packages():
        return _plugin_packages()[top]
    for name in _installed_packages().get(top, []):
        if name.lower() == BUILTIN_PACKAGE:
            return None
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def origin(cls: type) -> dict[str, Any]:
    """What :meth:`~ragdistill.contracts.Component.describe` adds to identify ``cls``'s code."""
    out: dict[str, Any] = {}
    version = getattr(cls, "cache_version", None)
    if version is not None:
        out["cache_version"] = str(version)
    own_version = "cache_version" in vars(cls)
    dist = distribution_of(cls)
    if dist is not None and not own_version:
        out["distribution"] = {"name": dist[0], "version": dist[1]}
    return out


def forget() -> None:
    """Rescan installed distributions on next use (after installing or upgrading one)."""
    _plugin_packages.cache_clear()
    _installed_packages.cache_clear()
