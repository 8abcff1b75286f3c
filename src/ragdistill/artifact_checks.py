"""What a model folder may hold before any library reads it: no pickle, nothing outside.

Every folder ragdistill hands to transformers or sentence-transformers passes
:func:`check_model_folder` first: an artifact (after its manifest is verified), a plain
model folder without a manifest, a provisioned or ``hf:`` model, a folder named in a
recipe. It refuses, with one line naming the file and the fix:

- a pickle-format file (:data:`PICKLE_SUFFIXES`: ``pytorch_model.bin``, ``*.pt``...)
  anywhere in the folder, linked folders followed (``2_Dense/`` linked elsewhere): a
  pickle can run code when it is read, and torch's ``weights_only`` loader is a filter
  over that format, not a format that cannot carry code;
- a sharded-checkpoint index (``*.index.json``) of pickle shards
  (``pytorch_model.bin.index.json``), or naming a shard that is not a ``.safetensors``
  file or lies outside the folder (absolute, ``..``);
- a ``config.json`` whose ``transformers_weights`` names anything but a safetensors file
  in the folder;
- a sentence-transformers ``modules.json`` whose module ``path`` leaves the folder
  (absolute, ``..``, or a linked folder resolving outside), and, unless the caller passed
  ``trust_remote_code=True``, one naming a module class outside ``sentence_transformers``
  (importing it runs that code).

Only names and small JSON files are read; no weight file is opened. An artifact's
folder is also checked against its manifest (:func:`ragdistill.artifacts.verify_artifact`),
which refuses any link leaving it; a plain folder may hold links to files elsewhere
(a Hugging Face cache snapshot links every file into ``blobs/``), judged by their names.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ragdistill.errors import ChecksumError

#: Formats that unpickle when read: never written, never loaded.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
INDEX_SUFFIX = ".index.json"
SAFETENSORS = ".safetensors"
#: Module classes a sentence-transformers folder may name without ``trust_remote_code``.
TRUSTED_MODULE_PREFIX = "sentence_transformers."
#: Converts one pickled state dict to safetensors; ``{src}``/``{dst}`` are filled in.
CONVERT_COMMAND = (
    'python -c "import sys, torch; from safetensors.torch import save_file; '
    "save_file({{k: v.contiguous().clone() for k, v in torch.load(sys.argv[1], "
    "weights_only=True).items()}}, sys.argv[2], metadata={{'format': 'pt'}})\" {src} {dst}"
)


def check_model_folder(
    root: str | os.PathLike[str], *, trust_remote_code: bool | None = False
) -> None:
    """Refuse a model folder from which a load would unpickle a file, read weights
    outside the folder or import code the caller did not trust (see the module doc).

    ``trust_remote_code`` is the caller's own option: with it, ``modules.json`` may name
    module classes outside sentence-transformers (their paths are checked all the same);
    None leaves the classes to the load, which knows the caller's option.
    """
    folder = Path(root)
    refuse_pickles(folder)
    check_modules(folder, trust_remote_code=trust_remote_code)


def refuse_pickles(root: Path) -> None:
    """Refuse pickle-format files in ``root`` (linked folders followed) and index or
    config files that would make a loader read a pickle or a file outside the folder."""
    files = list(model_files(root))
    found = sorted(rel for rel, _ in files if _is_pickle(rel))
    if found:
        raise ChecksumError(_pickle_message(root, found, {rel for rel, _ in files}))
    for rel, path in files:
        if rel.endswith(INDEX_SUFFIX):
            _check_index(root, rel, path)
        elif rel.rsplit("/", 1)[-1] == "config.json":  # the root's, or a module folder's
            _check_config_weights(path, root / rel)


def model_files(root: Path) -> Iterator[tuple[str, Path]]:
    """``(relative path, path)`` for every file under ``root``, the names a loader sees:
    links to folders are followed, each real folder once (a link loop ends there)."""
    base = Path(root)
    seen: set[str] = set()
    stack = [base]
    while stack:
        folder = stack.pop()
        try:
            real = os.path.realpath(folder)
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        if real in seen:
            continue
        seen.add(real)
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows links
            except OSError:
                is_dir = False
            if is_dir:
                stack.append(path)
            else:
                yield path.relative_to(base).as_posix(), path


def _is_pickle(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1].lower()
    if name.endswith(INDEX_SUFFIX):
        return False  # judged by _check_index, which names its shards
    return name.endswith(PICKLE_SUFFIXES)


def _pickle_message(root: Path, found: list[str], names: set[str]) -> str:
    shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    shadowed = all(_safetensors_beside(rel, names) for rel in found)
    if shadowed:
        fix = (
            "a safetensors file beside each holds the weights: delete the pickle files "
            f"(rm {' '.join(str(root / rel) for rel in found[:5])})"
        )
    else:
        first = root / found[0]
        target = first.with_suffix(SAFETENSORS)
        if first.name == "pytorch_model.bin":  # the name every loader looks for
            target = first.with_name(f"model{SAFETENSORS}")
        command = CONVERT_COMMAND.format(src=shlex.quote(str(first)), dst=shlex.quote(str(target)))
        fix = f"convert each to safetensors, if you trust it, and delete the original: {command}"
    return (
        f"{root} holds pickle-format files ({shown}); reading a pickle can run code, so "
        f"ragdistill loads safetensors weights only: {fix}"
    )


def _safetensors_beside(rel: str, names: set[str]) -> bool:
    parent = rel.rpartition("/")[0]
    prefix = f"{parent}/" if parent else ""
    return (
        f"{prefix}model{SAFETENSORS}" in names
        or f"{prefix}model{SAFETENSORS}{INDEX_SUFFIX}" in names
    )


def _check_index(root: Path, rel: str, path: Path) -> None:
    """A sharded checkpoint's index: safetensors shards inside the folder only."""
    shown = root / rel
    stem = rel[: -len(INDEX_SUFFIX)].lower()
    if stem.endswith(PICKLE_SUFFIXES):
        raise ChecksumError(
            f"{shown} indexes pickle-format shards, which a loader reads with torch.load; "
            "ragdistill loads safetensors weights only: re-save the model with "
            "save_pretrained(..., safe_serialization=True) and remove the .bin files"
        )
    data = _read_json(path, shown)
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if weight_map is None:
        return  # not a checkpoint index
    if not isinstance(weight_map, dict):
        raise ChecksumError(f"{shown}: weight_map must be a table of tensor -> shard file")
    folder = PurePosixPath(rel).parent
    for shard in sorted({str(s) for s in weight_map.values()}):
        if _leaves(shard):
            raise ChecksumError(
                f"{shown} names the shard {shard!r:.200}, outside the model folder; an index "
                "names the folder's own files (relative, without '..'): re-save the model"
            )
        if not shard.lower().endswith(SAFETENSORS):
            raise ChecksumError(
                f"{shown} names the shard {(folder / shard).as_posix()!r:.200}, not a "
                f"{SAFETENSORS} file, which a loader would read with torch.load; ragdistill "
                "loads safetensors weights only: re-save the model with safe_serialization=True"
            )


def _check_config_weights(path: Path, config: Path) -> None:
    """transformers loads ``config.json``'s ``transformers_weights`` file when it is set."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return  # not a security matter: the loader reports a broken config itself
    name = data.get("transformers_weights") if isinstance(data, dict) else None
    if name is None:
        return
    if (
        not isinstance(name, str)
        or _leaves(name)
        or not name.lower().endswith((SAFETENSORS, f"{SAFETENSORS}{INDEX_SUFFIX}"))
    ):
        raise ChecksumError(
            f"{config}: transformers_weights {name!r:.200} must name a {SAFETENSORS} file (or "
            "index) inside the model folder; remove the key or re-save the model"
        )


def check_modules(root: Path, *, trust_remote_code: bool | None = False) -> None:
    """Refuse a ``modules.json`` whose module path leaves ``root`` or, unless
    ``trust_remote_code`` (None: not known yet, classes unchecked), whose module class
    lies outside sentence-transformers."""
    path = root / "modules.json"
    if not path.is_file():
        return
    modules = _read_json(path, path)
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise ChecksumError(f"{path} must be a list of modules ({{name, path, type}} tables)")
    base = root.resolve()
    for i, module in enumerate(modules):
        name = module.get("name", i)
        sub = module.get("path", "")
        if not isinstance(sub, str) or _leaves(sub) or not _resolves_inside(base, sub):
            raise ChecksumError(
                f"{path}: module {name!r} has path {sub!r:.200}, outside the model folder; "
                "sentence-transformers would load that module from there: a model folder "
                "holds its own modules (relative paths, no '..', no links leaving it)"
            )
        kind = module.get("type")
        if trust_remote_code is False and not (
            isinstance(kind, str) and kind.startswith(TRUSTED_MODULE_PREFIX)
        ):
            raise ChecksumError(
                f"{path}: module {name!r} is of type {kind!r:.200}, outside sentence-"
                "transformers; loading it imports and runs that code: pass "
                "trust_remote_code=True if you trust the folder"
            )


def _leaves(rel: str) -> bool:
    """Whether a path written in a file is absolute or climbs out with ``..``."""
    windows = PureWindowsPath(rel)
    return (
        "\0" in rel
        or PurePosixPath(rel).is_absolute()
        or bool(windows.anchor)
        or ".." in PurePosixPath(rel).parts
        or ".." in windows.parts
    )


def _resolves_inside(base: Path, rel: str) -> bool:
    try:
        return (base / rel).resolve().is_relative_to(base)
    except (OSError, RuntimeError):  # a link loop
        return False


def _read_json(path: Path, shown: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChecksumError(f"{shown} is not valid JSON ({exc}); re-save the model") from None
