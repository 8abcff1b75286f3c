"""What identifies an embedder's vector space, so an index never mixes two of them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ragdistill.contracts import Embedder
from ragdistill.contracts.base import identity


def embedder_fingerprint(embedder: Embedder) -> str:
    """sha256 of ``describe()``, the dimension and the weights behind a model folder.

    Two embedders with the same class, options and dimension but different weights
    (a student before and after distillation saved to the same folder) differ by the
    hash of the artifact's manifest, or of its ``*.safetensors`` files when it has none.
    """
    # Operational options (batch size, device) do not change the vectors: left out.
    payload: dict[str, Any] = {
        "describe": identity(embedder.describe()),
        "dimension": embedder.dimension,
    }
    model = getattr(embedder, "model", None)
    if isinstance(model, str | Path):  # a hub name or folder not in options when built directly
        payload["model"] = str(model)
    weights = weights_hash(model_dir_of(embedder))
    if weights is not None:
        payload["weights_sha256"] = weights
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def model_dir_of(embedder: Embedder) -> Path | None:
    """The model folder an embedder was loaded from, when it names one.

    Looks at a ``model_path`` / ``path`` / ``model`` attribute, then at the same keys
    in the options; returns it only if it is an existing folder.
    """
    names = ("model_path", "path", "model")
    candidates: list[Any] = [getattr(embedder, n, None) for n in names]
    options = getattr(embedder, "options", {}) or {}
    candidates += [options.get(n) for n in names]
    for value in candidates:
        if isinstance(value, str | Path) and str(value) and Path(value).is_dir():
            return Path(value)
    return None


def weights_hash(folder: Path | None) -> str | None:
    """The manifest's sha256 if the folder is an artifact, else one over its safetensors."""
    if folder is None:
        return None
    from ragdistill.artifacts import MANIFEST_NAME

    manifest = folder / MANIFEST_NAME
    if manifest.is_file():
        # Its "files" table holds every file's sha256; the rest (metrics, dates) may be
        # updated later without the weights changing.
        try:
            files = json.loads(manifest.read_text(encoding="utf-8")).get("files")
        except (json.JSONDecodeError, AttributeError):
            files = None
        if files:
            return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    files = sorted(folder.rglob("*.safetensors"))
    if not files:
        return None
    h = hashlib.sha256()
    for file in files:
        h.update(file.relative_to(folder).as_posix().encode() + b"\0")
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
