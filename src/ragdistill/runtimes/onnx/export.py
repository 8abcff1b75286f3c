"""The ONNX export cache of a model folder: ``<folder>.onnx/``, checksummed by a sidecar.

An artifact's manifest lists every weight file in its folder, and
:func:`~ragdistill.artifacts.verify_artifact` refuses an unlisted ``.onnx`` file there,
so the export cannot sit inside the artifact without widening (or rewriting) its
manifest. It sits beside it instead, in ``<folder>.onnx/``:

- ``model.onnx``: the fp32 graph, exported by ``torch.onnx.export`` from the model the
  torch loader builds (the whole sentence-transformers pipeline for an embedder, the
  classification head for a cross-encoder);
- ``model_qint8.onnx``: int8 weights by ONNX Runtime's dynamic quantization
  (``onnxruntime.quantization.quantize_dynamic``, what optimum's ``ORTQuantizer`` runs);
  not fused by ``onnxruntime.transformers``' optimizer first, which made MiniLM slower on
  CPU in fp32 and int8 (measured: the README's ONNX Runtime paragraph);
- ``ragdistill-onnx.json`` (:data:`SIDECAR`): the sha256 of the source it was exported
  from (the artifact manifest's ``files`` table, or every file of a plain folder) and
  the size and sha256 of every exported file.

:func:`exported_model` verifies the sidecar before a file is handed to ONNX Runtime:
an export of another source (the artifact was re-trained) is redone, and a file that
does not match its checksum, or is not listed, is reported and exported again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from ragdistill.artifacts import file_checksums, sha256_file
from ragdistill.errors import ConfigError, require

log = logging.getLogger(__name__)

SIDECAR = "ragdistill-onnx.json"
FORMAT_VERSION = 1
Quantize = Literal["none", "int8"]
#: The exported file of each ``quantize`` setting.
FILE_NAMES: dict[str, str] = {"none": "model.onnx", "int8": "model_qint8.onnx"}
#: ONNX opset of the export (ONNX Runtime 1.17+ runs it).
OPSET = 17


@dataclass(frozen=True)
class ExportSpec:
    """What to export: a torch module, sample inputs by name, and its output to keep."""

    module: Any
    sample: dict[str, Any]
    output: str
    #: Whether the module takes its inputs as one dict (sentence-transformers) rather
    #: than as keyword arguments (transformers).
    takes_dict: bool = False


#: Builds the :class:`ExportSpec` (loads the torch model) only when an export is made.
Exportable = Callable[[], ExportSpec]


def export_folder(root: Path) -> Path:
    """Where the export of the model folder ``root`` is cached: ``<root>.onnx/``."""
    return root.with_name(f"{root.name}.onnx")


def source_fingerprint(root: Path, manifest: Mapping[str, Any] | None) -> str:
    """The sha256 of what an export is made from: an artifact's ``files`` table (its
    files were just verified against it), or the checksums of every file of a plain
    folder."""
    files = manifest["files"] if manifest is not None else file_checksums(root)
    text = json.dumps(files, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def exported_model(
    root: Path,
    manifest: Mapping[str, Any] | None,
    quantize: Quantize,
    build: Exportable,
    *,
    kind: str,
) -> tuple[Path, dict[str, Any]]:
    """The verified export of ``root`` for ``quantize`` and its sidecar entry, made (by
    ``build`` and ``torch.onnx.export``, then quantized) when missing, stale or tampered.

    ``kind`` names what the graph computes (``sentence-embedding``...); an export of
    another kind is redone. Concurrent loads of the same folder wait on a file lock.
    """
    from filelock import FileLock

    folder = export_folder(root)
    source = source_fingerprint(root, manifest)
    try:
        with FileLock(str(folder.with_name(f".{folder.name}.lock"))):
            sidecar = _usable_sidecar(folder, source, kind)
            name = FILE_NAMES[quantize]
            if name not in sidecar["files"]:
                fp32 = folder / FILE_NAMES["none"]
                if FILE_NAMES["none"] not in sidecar["files"]:
                    _export(build, fp32, sidecar)
                    _record(folder, sidecar, FILE_NAMES["none"])
                if quantize == "int8":
                    _quantize(fp32, folder / name)
                    _record(folder, sidecar, name)
    except PermissionError as exc:
        raise ConfigError(
            f"cannot write the ONNX export of {root} to {folder} ({exc}); the ONNX runtime "
            "caches it beside the model folder: load a copy of the folder kept somewhere "
            "writable"
        ) from None
    return folder / name, {**sidecar["files"][name], "inputs": sidecar["inputs"]}


def _usable_sidecar(folder: Path, source: str, kind: str) -> dict[str, Any]:
    """The folder's sidecar when it belongs to ``source`` and every file matches it;
    otherwise the folder is emptied and a fresh sidecar returned."""
    sidecar = _read_sidecar(folder)
    problem = None
    if sidecar is None:
        problem = "no valid sidecar" if folder.exists() else None
    elif sidecar.get("source") != source or sidecar.get("kind") != kind:
        problem = "it was exported from another version of the model"
    else:
        problem = _mismatch(folder, sidecar["files"])
    if sidecar is not None and problem is None:
        return sidecar
    if problem is not None:
        log.warning("re-exporting the ONNX cache %s: %s", folder, problem)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return {"format_version": FORMAT_VERSION, "source": source, "kind": kind,
            "inputs": [], "files": {}, "libraries": _libraries()}  # fmt: skip


def _read_sidecar(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / SIDECAR).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not (
        isinstance(data, dict)
        and data.get("format_version") == FORMAT_VERSION
        and isinstance(data.get("files"), dict)
        and isinstance(data.get("inputs"), list)
        and all(
            isinstance(e, dict)
            and isinstance(e.get("sha256"), str)
            and isinstance(e.get("size"), int)
            for e in data["files"].values()
        )
    ):
        return None
    return data


def _mismatch(folder: Path, files: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why the export folder does not match its sidecar, or None when it does."""
    present = {
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()
    } - {SIDECAR}
    for rel in sorted(present - set(files)):
        return f"{folder / rel} is not listed in {SIDECAR}"
    for rel, entry in sorted(files.items()):
        path = folder / rel
        if rel not in present or path.is_symlink():
            return f"{path} is missing or a link"
        if path.stat().st_size != entry["size"] or sha256_file(path) != entry["sha256"]:
            return f"{path} does not match its checksum in {SIDECAR} (modified or corrupted)"
    return None


def _export(build: Exportable, target: Path, sidecar: dict[str, Any]) -> None:
    """``torch.onnx.export`` of ``build()``'s module, batch and sequence axes dynamic."""
    torch = require("torch", extra="hf")
    spec = build()
    names, output = list(spec.sample), spec.output

    class Graph(torch.nn.Module):  # type: ignore[misc, name-defined]
        """Positional inputs (what the exporter traces) to the module's named ones."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = spec.module

        def forward(self, *tensors: Any) -> Any:
            features = dict(zip(names, tensors))
            out = self.inner(features) if spec.takes_dict else self.inner(**features)
            return out[output]

    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    tmp = target.with_name(f".{target.name}.tmp")
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow
        torch.onnx.export(
            Graph().eval(),
            tuple(spec.sample[n] for n in names),
            str(tmp),
            dynamo=False,  # the dynamo exporter needs onnxscript; the tracer does not
            input_names=names,
            output_names=[output],
            dynamic_axes={**axes, output: {0: "batch"}},
            opset_version=OPSET,
        )
    os.replace(tmp, target)
    sidecar["inputs"] = names


def _quantize(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the weights (activations quantized at run time)."""
    quantization = require("onnxruntime.quantization", extra="onnx")
    tmp = target.with_name(f".{target.name}.tmp")
    root_logger = logging.getLogger()
    level = root_logger.level
    root_logger.setLevel(logging.ERROR)  # its "run pre-processing first" advice, on every call
    try:
        quantization.quantize_dynamic(
            str(source), str(tmp), per_channel=True, weight_type=quantization.QuantType.QInt8
        )
    finally:
        root_logger.setLevel(level)
    os.replace(tmp, target)


def _record(folder: Path, sidecar: dict[str, Any], name: str) -> None:
    """Checksum ``name`` into the sidecar and write the sidecar atomically."""
    path = folder / name
    sidecar["files"][name] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    tmp = folder / f".{SIDECAR}.tmp"
    tmp.write_text(json.dumps(sidecar, indent=2, sort_keys=True))
    os.replace(tmp, folder / SIDECAR)


def _libraries() -> dict[str, str]:
    versions = {}
    for name in ("torch", "onnx", "onnxruntime", "transformers", "sentence-transformers"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
