"""Distilled artifacts: a plain-library model folder plus a verified manifest.

An artifact directory loads in the library it came from (``SentenceTransformer(path)``,
``AutoModel...from_pretrained(path)``) and carries ``ragdistill.json`` beside the model
files: stage, how to load it back, teacher, student, recipe, data fingerprint,
metrics, library versions and the sha256 of every file. :func:`verify_artifact`
checks those checksums (``ragdistill.loading`` runs it before every load), and pickle-based
weight files are refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from ragdistill.contracts import Stage
from ragdistill.errors import ChecksumError, ConfigError

MANIFEST_NAME = "ragdistill.json"
FORMAT_VERSION = 1
# Weight formats that unpickle on load: never written, never loaded.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
LIBRARIES = ("ragdistill", "torch", "transformers", "sentence-transformers", "chromadb", "numpy")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def file_checksums(root: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"sha256", "size"}}`` for every file under ``root`` but the manifest."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel == MANIFEST_NAME:
            continue
        out[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return out


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_manifest(
    root: str | os.PathLike[str],
    *,
    stage: Stage,
    loader: str,
    teacher: Mapping[str, Any] | None = None,
    student: Mapping[str, Any] | None = None,
    recipe: Mapping[str, Any] | None = None,
    data_fingerprint: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    load_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Checksum every file in ``root`` and write its manifest; refuses pickle files."""
    path = Path(root)
    if not (isinstance(stage, str) and stage.isidentifier()):
        raise ConfigError(f"stage must be the name of a registered stage, got {stage!r}")
    refuse_pickles(path)
    manifest = {
        "format_version": FORMAT_VERSION,
        "stage": stage,
        "loader": loader,
        "load_options": dict(load_options or {}),
        "teacher": dict(teacher or {}),
        "student": dict(student or {}),
        "recipe": dict(recipe or {}),
        "data_fingerprint": data_fingerprint,
        "metrics": dict(metrics or {}),
        "libraries": library_versions(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": file_checksums(path),
    }
    tmp = path / f".{MANIFEST_NAME}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    tmp.replace(path / MANIFEST_NAME)
    return manifest


def read_manifest(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of an artifact, or None for a plain model folder."""
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ChecksumError(f"{path} is not valid JSON ({exc}); re-create the artifact") from None
    return manifest


def update_metrics(root: str | os.PathLike[str], metrics: Mapping[str, Any]) -> None:
    """Merge ``metrics`` into an artifact's manifest (files are unchanged)."""
    manifest = read_manifest(root)
    if manifest is None:
        raise ConfigError(f"{root} has no {MANIFEST_NAME}; it is not a ragdistill artifact")
    manifest["metrics"] = {**manifest.get("metrics", {}), **metrics}
    path = Path(root) / MANIFEST_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    tmp.replace(path)


def verify_artifact(root: str | os.PathLike[str]) -> dict[str, Any]:
    """Check every file against the manifest; raise :class:`ChecksumError` naming the file."""
    path = Path(root)
    manifest = read_manifest(path)
    if manifest is None:
        raise ConfigError(f"{path} has no {MANIFEST_NAME}; it is not a ragdistill artifact")
    refuse_pickles(path)
    for rel, expected in manifest["files"].items():
        file = path / rel
        if not file.is_file():
            raise ChecksumError(
                f"{file} is listed in the manifest but missing; re-run the distillation"
            )
        actual = sha256_file(file)
        if actual != expected["sha256"]:
            raise ChecksumError(
                f"{file} does not match its manifest (sha256 {actual[:12]}..., expected "
                f"{expected['sha256'][:12]}...): the artifact was modified or corrupted"
            )
    return manifest


def refuse_pickles(root: Path) -> None:
    found = [p.name for p in root.rglob("*") if p.suffix in PICKLE_SUFFIXES and p.is_file()]
    if found:
        raise ChecksumError(
            f"{root} contains pickle-based weight files ({', '.join(sorted(found)[:5])}); "
            "ragdistill loads safetensors only: re-save the model with safe_serialization=True"
        )
