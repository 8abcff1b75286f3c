"""Load a component from an artifact folder, a plain model folder or a model name.

Every load goes through a runtime backend (:func:`load_component`'s ``runtime=``, the
torch one by default): the runtime calls :func:`locate` (find, verify, pick the loader)
and :func:`build_component` (build that loader), or loads the folder its own way.
This sits above the registry (it looks loaders and runtimes up by name) and above
:mod:`ragdistill.artifacts` (which only reads, writes and verifies manifests).

What a load trusts an artifact with: the manifest names the stage, the loader and
options that tune how the folder's own model runs; the files it lists are checked
(:func:`~ragdistill.artifacts.verify_artifact`). No folder, artifact or plain, may
make a load unpickle a file or load a module from outside it
(:func:`~ragdistill.artifact_checks.check_model_folder`). A manifest can never widen
the load: options that run code, load another model, reach a server, pick credentials
or name files elsewhere are refused (:func:`~ragdistill.artifacts.check_load_options`),
and a loader that talks to a server (:func:`is_network_loader`) is refused unless the
caller passes ``allow_network=True``. ``trust_remote_code`` and the like come only from the caller.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeAlias

from ragdistill.artifact_checks import check_model_folder
from ragdistill.artifacts import (
    MANIFEST_NAME,
    check_load_options,
    read_manifest,
    verify_artifact,
)
from ragdistill.config import article
from ragdistill.contracts import Component, Stage
from ragdistill.errors import ConfigError, ContractError
from ragdistill.registry import Registry, default_registry
from ragdistill.runtime import RuntimeBackend


def guess_loader(root: Path, registry: Registry | None = None) -> tuple[Stage, str]:
    """The stage and teacher name that load a plain model folder without a manifest.

    Every registered teacher says how surely it loads the folder
    (:meth:`Component.folder_match`); the surest wins, the first registered on a tie.
    """
    registry = registry or default_registry()
    config: dict[str, Any] = {}
    config_path = root / "config.json"
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{config_path} is not valid JSON ({exc})") from None
    best: tuple[int, Stage, str] | None = None
    for entry in registry.entries("teacher"):
        teacher: type[Component] = entry.obj  # a teacher subclasses a contract (see Registry.add)
        score = teacher.folder_match(root, config)
        if score > 0 and (best is None or score > best[0]):
            best = (score, entry.stage or "", entry.name)
    if best is None:
        raise ConfigError(
            f"{root} is neither a ragdistill artifact nor a model folder any registered "
            f"teacher recognises (no {MANIFEST_NAME}, modules.json or config.json); pass an "
            "artifact directory or a model name"
        )
    return best[1], best[2]


@dataclass(frozen=True)
class LocatedArtifact:
    """An artifact or model folder, verified, and the registered component that loads it."""

    root: Path
    stage: Stage
    #: Teacher-registry name of the loader (the manifest's ``loader``, or the best guess).
    loader: str
    loader_class: type[Component]
    #: The parsed ``ragdistill.json``; None for a plain model folder.
    manifest: dict[str, Any] | None
    #: The manifest's ``load_options``: what the loader needs beyond the path.
    load_options: dict[str, Any] = field(default_factory=dict)

    @property
    def network(self) -> bool:
        """Whether its loader talks to a server (see :func:`is_network_loader`)."""
        return is_network_loader(self.loader_class)


#: Options of a loader's ``__init__`` that mark it as talking to a server, for a loader
#: class that does not say so itself with a ``network`` class attribute.
NETWORK_OPTIONS = frozenset({"base_url", "api_base", "url", "endpoint", "host"})


def is_network_loader(cls: type[Component]) -> bool:
    """Whether a loader sends requests to a server instead of loading a folder's weights.

    A loader class says so with a ``network`` class attribute (``network = True``, as
    the OpenAI plugin's components do; ``False`` to vouch that it never connects
    anywhere). One that does not say is taken to be network-backed when its
    ``__init__`` takes a server option (:data:`NETWORK_OPTIONS`).
    """
    declared = getattr(cls, "network", None)
    if declared is not None:
        return bool(declared)
    try:
        parameters = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return False
    return not NETWORK_OPTIONS.isdisjoint(parameters)


def model_folder(path_or_name: str | os.PathLike[str]) -> Path:
    """A directory as it is; a model name provisioned (downloaded, unpacked) to a folder."""
    root = Path(path_or_name)
    if root.is_dir():
        return root
    from ragdistill.models import resolve_model

    root = Path(resolve_model(str(path_or_name)))
    if not root.is_dir():
        raise ConfigError(
            f"{path_or_name!r} is not a directory nor a model ragdistill can provision; "
            "see `ragdistill models list --available`"
        )
    return root


def locate(path_or_name: str | os.PathLike[str], stage: Stage | None = None) -> LocatedArtifact:
    """Read (and checksum) an artifact's manifest, or guess a plain folder's loader.

    Refuses a manifest that is malformed or whose ``load_options`` would widen the load
    (:func:`~ragdistill.artifacts.check_load_options`), before any file is hashed; then
    a folder that does not match its manifest, a plain folder holding pickle-format
    weights (:func:`~ragdistill.artifact_checks.check_model_folder`), and a folder of
    another stage than ``stage``. A runtime's
    :meth:`~ragdistill.runtime.RuntimeBackend.load` starts here.
    """
    registry = default_registry()
    root = model_folder(path_or_name)
    manifest = read_manifest(root)
    load_options: dict[str, Any] = {}
    if manifest is not None:
        load_options = dict(manifest.get("load_options", {}))
        check_load_options(load_options, str(root / MANIFEST_NAME))
        verify_artifact(root, manifest)
        found_stage, loader = manifest["stage"], manifest["loader"]
    else:
        check_model_folder(root, trust_remote_code=None)  # classes: when the load runs
        found_stage, loader = guess_loader(root, registry)
    if stage is not None and stage != found_stage:
        kinds = sorted(e.name for e in registry.entries("teacher", stage=stage))
        raise ConfigError(
            f"{root} holds {article(found_stage)} {found_stage}, not {article(stage)} {stage}; "
            f"build {article(stage)} {stage} teacher on it instead (registered {stage} kinds: "
            f"{', '.join(kinds) or 'none'}; on the command line: KIND:{path_or_name})"
        )
    cls = registry.teacher(found_stage, loader)
    return LocatedArtifact(root, found_stage, loader, cls, manifest, load_options)


def build_component(
    artifact: LocatedArtifact, *, allow_network: bool = False, **options: Any
) -> Component:
    """The artifact's loader component, built on its folder with the manifest's
    ``load_options`` overridden by ``options``; the manifest is attached as ``.manifest``.

    A loader that talks to a server (:attr:`LocatedArtifact.network`) is refused unless
    ``allow_network`` is true: loading a folder loads that folder's weights, and a file
    must not decide where a load connects or what it sends. A runtime that passes the
    caller's options on here passes ``allow_network`` with them; one that builds the
    loader another way must make the same check.
    """
    if artifact.network and not allow_network:
        raise ConfigError(
            f"{artifact.root} is loaded by {artifact.loader!r} "
            f"({artifact.loader_class.__qualname__}), which sends requests to a server "
            "instead of loading the folder's weights; pass allow_network=True to "
            "load_component (or in a shim's load_options) if you mean to call that server"
        )
    table = {"model": str(artifact.root), **artifact.load_options, **options}
    component = artifact.loader_class.from_options(table, where=str(artifact.root))
    component.manifest = artifact.manifest  # type: ignore[attr-defined]
    return component


#: What selects a runtime: a registered name, a built backend, or None for the default.
RuntimeLike: TypeAlias = str | RuntimeBackend | None
#: The runtime ``runtime=None`` means: torch, on the device every built-in loader defaults to.
DEFAULT_RUNTIME, DEFAULT_RUNTIME_OPTIONS = "torch", MappingProxyType({"device": "cpu"})


def resolve_runtime(
    runtime: RuntimeLike = None, options: Mapping[str, Any] | None = None
) -> RuntimeBackend:
    """A runtime backend: an instance as it is, a registered name built from ``options``
    (validated, like a recipe's ``[runtime]``), or None for the torch runtime on the CPU
    (``options`` then override that default, e.g. ``{"device": "cuda"}``)."""
    from ragdistill.config import build

    if isinstance(runtime, RuntimeBackend):
        if options:
            raise ConfigError(
                f"runtime options {sorted(options)} go with a runtime name; a "
                f"{type(runtime).__name__} instance is already built with its options"
            )
        return runtime
    if runtime is not None and not isinstance(runtime, str):
        raise TypeError(
            "runtime must be a registered runtime name, a ragdistill.runtime.RuntimeBackend "
            f"or None, got {type(runtime).__name__}"
        )
    name, table = runtime or DEFAULT_RUNTIME, dict(options or {})
    if runtime is None:
        table = {**DEFAULT_RUNTIME_OPTIONS, **table}
    backend: RuntimeBackend = build(default_registry().runtime(name), table, "runtime")
    return backend


def load_component(
    path_or_name: str | os.PathLike[str],
    stage: Stage | None = None,
    *,
    runtime: RuntimeLike = None,
    runtime_options: Mapping[str, Any] | None = None,
    allow_network: bool = False,
    **options: Any,
) -> Component:
    """Load an artifact directory, a plain model folder or a provisionable model name
    through a runtime's :meth:`~ragdistill.runtime.RuntimeBackend.load`.

    ``runtime`` is a registered runtime's name (built from ``runtime_options``), a
    :class:`~ragdistill.runtime.RuntimeBackend` instance, or None: the torch runtime on
    the CPU. The runtime verifies an artifact's checksums before loading it (see
    :func:`locate`). ``options`` are passed to the loader component (``batch_size``...;
    ``device`` overrides the runtime's); only they may widen the load
    (``trust_remote_code=True``, ``base_url``...): the manifest's ``load_options`` never
    can. ``allow_network=True`` accepts an artifact whose loader talks to a server
    (see :func:`build_component`); without it such an artifact is refused.
    """
    backend = resolve_runtime(runtime, runtime_options)
    if allow_network:  # passed on only when set, so a runtime that ignores it is unaffected
        options = {**options, "allow_network": True}
    component = backend.load(model_folder(path_or_name), stage, **options)
    if not isinstance(component, Component) or (stage is not None and component.stage != stage):
        what = getattr(component, "stage", None) or type(component).__qualname__
        raise ContractError(
            f"runtime {type(backend).__qualname__}.load({os.fspath(path_or_name)!r}) returned "
            f"{what!r}, not {article(stage)} {stage or 'component'}; its load must return a "
            "ragdistill component of the stage it was asked for"
        )
    return component


def load_arm(
    spec: str,
    *,
    stage: str,
    runtime: RuntimeBackend | str | None = None,
    kind_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """A component of ``stage`` named by one string (a command-line arm, a recipe's reference).

    ``KIND:MODEL`` builds the registered teacher ``KIND`` of that stage on ``MODEL``
    (``bi-encoder:all-mpnet-base-v2``) with ``options`` and ``kind_options``; anything
    else is an artifact directory, a model folder or a provisionable model name, loaded
    through ``runtime`` (see :func:`ragdistill.loading.load_component`) with ``options``
    for its loader.
    """
    kind, sep, model = spec.partition(":")
    registry = default_registry()
    kinds = {e.name for e in registry.entries("teacher", stage=stage)}
    if sep and kind in kinds and not Path(spec).exists():
        cls = registry.teacher(stage, kind)
        return cls.from_options({"model": model, **(kind_options or {}), **options}, where=spec)
    return load_component(spec, stage=stage, runtime=runtime, **options)
