"""Load a component from an artifact folder, a plain model folder or a model name.

This sits above the registry (it looks loaders up by name) and above
:mod:`ragdistill.artifacts` (which only reads, writes and verifies manifests).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ragdistill.artifacts import MANIFEST_NAME, read_manifest, verify_artifact
from ragdistill.config import article
from ragdistill.contracts import Component, Stage
from ragdistill.errors import ConfigError
from ragdistill.registry import Registry, default_registry


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


def load_component(
    path_or_name: str | os.PathLike[str],
    stage: Stage | None = None,
    **options: Any,
) -> Component:
    """Load an artifact directory, a plain model folder or a provisionable model name.

    An artifact's checksums are verified first. ``options`` are passed to the loader
    component (``device``, ``batch_size``...).
    """
    registry = default_registry()
    root = Path(path_or_name)
    if not root.is_dir():
        from ragdistill.models import resolve_model

        root = Path(resolve_model(str(path_or_name)))
        if not root.is_dir():
            raise ConfigError(
                f"{path_or_name!r} is not a directory nor a model ragdistill can provision; "
                "see `ragdistill models list --available`"
            )
    manifest = read_manifest(root)
    if manifest is not None:
        verify_artifact(root)
        found_stage, loader = manifest["stage"], manifest["loader"]
        options = {**manifest.get("load_options", {}), **options}
    else:
        found_stage, loader = guess_loader(root, registry)
    if stage is not None and stage != found_stage:
        kinds = sorted(e.name for e in registry.entries("teacher", stage=stage))
        raise ConfigError(
            f"{root} holds {article(found_stage)} {found_stage}, not {article(stage)} {stage}; "
            f"build {article(stage)} {stage} teacher on it instead (registered {stage} kinds: "
            f"{', '.join(kinds) or 'none'}; on the command line: KIND:{path_or_name})"
        )
    cls = registry.teacher(found_stage, loader)
    component: Component = cls.from_options({"model": str(root), **options}, where=str(root))
    component.manifest = manifest  # type: ignore[attr-defined]
    return component
