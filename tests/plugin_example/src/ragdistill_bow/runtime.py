"""The ``audited`` runtime: loads like the torch one on the CPU, and keeps a record."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ragdistill.artifacts import MANIFEST_NAME, sha256_file
from ragdistill.contracts import Component
from ragdistill.loading import build_component, locate
from ragdistill.runtime import RuntimeBackend


class AuditedRuntime(RuntimeBackend):
    """Appends one JSON line per load to ``log``: what was loaded, as which stage, when.

    The manifest's sha256 pins every file of the artifact, so the log says exactly
    which weights served.
    """

    def __init__(self, log: Path) -> None:
        self.log = Path(log)

    def load(self, path: Path, stage: str | None = None, **options: Any) -> Component:
        artifact = locate(path, stage)  # checksums verified, stage checked, loader found
        component = build_component(artifact, **options)
        manifest = artifact.root / MANIFEST_NAME
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "path": str(artifact.root),
            "stage": artifact.stage,
            "loader": artifact.loader,
            "manifest_sha256": sha256_file(manifest) if manifest.is_file() else None,
        }
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        return component

    def training_device(self) -> str:
        return "cpu"  # so a recipe can train with it too
