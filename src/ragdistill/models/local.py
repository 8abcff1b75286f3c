"""``local:PATH``: a model folder already on disk, used where it is (never copied)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from ragdistill.errors import ConfigError, UnknownNameError
from ragdistill.models.sources import ModelSource

_MARKERS = ("config.json", "modules.json")
_WEIGHT_GLOBS = ("*.onnx", "*.gguf")


def looks_like_path(name: str) -> bool:
    """True for names that can only mean a file system path (``./x``, ``/x``, ``~/x``, ``C:\\x``)."""
    return (
        name.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or name in (".", "..")
        or bool(re.match(r"^[A-Za-z]:[\\/]", name))
    )


def is_model_dir(folder: Path) -> bool:
    """Whether ``folder`` holds something a library can load as a model."""
    return any((folder / m).is_file() for m in _MARKERS) or any(
        next(folder.glob(g), None) is not None for g in _WEIGHT_GLOBS
    )


def validate_model_dir(path: Path) -> Path:
    """``path`` resolved, if it is a model folder; else an error that says what to pass."""
    path = path.expanduser()
    if not path.exists():
        raise UnknownNameError(f"no such model folder: {path.absolute()} (check the path)")
    if path.is_file():
        raise ConfigError(
            f"{path} is a file; pass the folder that holds it ({path.parent}) as the model"
        )
    if is_model_dir(path):
        return path.resolve()
    inner = [p for p in sorted(path.iterdir()) if p.is_dir() and is_model_dir(p)]
    hint = f"; did you mean {str(inner[0])!r}?" if inner else ""
    raise ConfigError(
        f"{path} does not look like a model folder: it has no config.json, modules.json, "
        f"*.onnx or *.gguf file{hint}"
    )


class LocalSource(ModelSource):
    """A folder on disk; ``ragdistill models pull ./my-model`` checks it and uses it in place."""

    scheme = "local"
    priority = 10
    description = "a model folder on disk, used in place"

    def handles(self, name: str) -> bool:
        return looks_like_path(name) or os.path.isdir(os.path.expanduser(name))

    def canonical(self, name: str) -> str:
        return str(Path(name).expanduser().resolve())

    def in_place(self, name: str) -> Path | None:
        return validate_model_dir(Path(name))

    def fetch(self, name: str, dest: Path) -> dict[str, Any]:
        # Only used when a caller wants a cached copy (e.g. before deleting the original).
        folder = validate_model_dir(Path(name))
        shutil.copytree(folder, dest, dirs_exist_ok=True)
        return {"copied_from": str(folder)}
