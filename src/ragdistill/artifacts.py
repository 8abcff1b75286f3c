"""Distilled artifacts: a plain-library model folder plus a verified manifest.

An artifact directory loads in the library it came from (``SentenceTransformer(path)``,
``AutoModel...from_pretrained(path)``) and carries ``ragdistill.json`` beside the model
files: stage, how to load it back, teacher, student, recipe, data fingerprint,
metrics, library versions and the size and sha256 of every file. :func:`read_manifest`
checks the manifest's shape and :func:`verify_artifact` the folder against it
(``ragdistill.loading`` runs both before every load):

- every listed file lies inside the folder (no absolute paths, no ``..``, no symbolic
  link that resolves outside; no link anywhere in the folder may leave it either);
- every weight or code file in the folder is listed (``files: {}`` checks nothing
  only for a folder with nothing to load);
- each file's size is compared before its sha256, so a wrong entry is refused without
  reading the file;
- pickle-format files, indexes of pickle shards and ``modules.json`` paths leaving the
  folder are refused, listed or not (:mod:`ragdistill.artifact_checks`, which checks
  plain model folders too).

:func:`check_load_options` says which loader options a manifest may never carry.
:func:`save_staged` writes an artifact through a staging folder, and
:func:`disk_space_for` turns a full disk during a write into one
:class:`~ragdistill.errors.DiskFullError` naming the folder and the space needed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from ragdistill.artifact_checks import check_modules, refuse_pickles
from ragdistill.contracts import Stage
from ragdistill.credentials import mask_secrets
from ragdistill.errors import ChecksumError, ConfigError, DiskFullError

MANIFEST_NAME = "ragdistill.json"
FORMAT_VERSION = 1
#: Files that hold weights or code: an artifact's manifest must list every one it holds.
LOADABLE_SUFFIXES = (
    ".safetensors", ".onnx", ".gguf", ".ggml", ".h5", ".msgpack", ".ot", ".npy", ".npz",
    ".tflite", ".pb", ".py",
)  # fmt: skip
LIBRARIES = ("ragdistill", "torch", "transformers", "sentence-transformers", "chromadb", "numpy")

#: Loader options a manifest may never set, at any depth of ``load_options``, with why.
#: A manifest says how to run the folder's own model (``task``, prompts, ``max_length``,
#: ``device``...); it may not widen what the load does. Only the caller's own keyword
#: arguments may do that.
REFUSED_LOAD_OPTIONS = {
    "trust_remote_code": "runs Python code shipped in the folder",
    "model": "loads a model other than the verified folder",
    "members": "loads models other than the verified folder",
    "revision": "loads a model other than the verified folder",
    "doc_index": "reads a file outside the verified folder",
    "base_url": "points the load at a server",
    "api_base": "points the load at a server",
    "url": "points the load at a server",
    "uri": "points the load at a server",
    "endpoint": "points the load at a server",
    "host": "points the load at a server",
    "port": "points the load at a server",
    "proxy": "routes the load through a server",
    "proxies": "routes the load through a server",
    "headers": "chooses what the load sends to a server",
    "api_key": "chooses the credentials the load sends",
    "api_key_env": "chooses which environment variable's secret the load sends",
    "token": "chooses the credentials the load sends",
    "secret": "chooses the credentials the load sends",
    "password": "chooses the credentials the load sends",
}
#: The same for whole families of names, by ending (``cache_dir``, ``hf_token``...).
REFUSED_LOAD_OPTION_ENDINGS = {
    "remote_code": REFUSED_LOAD_OPTIONS["trust_remote_code"],
    "_url": REFUSED_LOAD_OPTIONS["base_url"],
    "_uri": REFUSED_LOAD_OPTIONS["base_url"],
    "_endpoint": REFUSED_LOAD_OPTIONS["base_url"],
    "_host": REFUSED_LOAD_OPTIONS["base_url"],
    "_key": REFUSED_LOAD_OPTIONS["api_key"],
    "_token": REFUSED_LOAD_OPTIONS["api_key"],
    "_secret": REFUSED_LOAD_OPTIONS["api_key"],
    "_password": REFUSED_LOAD_OPTIONS["api_key"],
    "_env": REFUSED_LOAD_OPTIONS["api_key_env"],
    "_dir": "reads or writes files wherever it names",
    "_path": "reads or writes files wherever it names",
    "_file": "reads or writes files wherever it names",
}
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: errno values of a full disk (or a full quota on it).
DISK_FULL_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None
)
#: The same errors as libraries that write from Rust word them: safetensors raises
#: ``SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull,
#: message: \"No space left on device\" })")``, tokenizers ``No space left on device
#: (os error 28)``; Windows says "There is not enough space on the disk".
_DISK_FULL_TEXT = re.compile(
    r"No space left on device|StorageFull|QuotaExceeded|Disk quota exceeded|"
    r"not enough space on the disk",
    re.IGNORECASE,
)


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc``, or an exception it was raised from or while handling, says the
    disk is full: an ``OSError`` with ``ENOSPC``/``EDQUOT``, or a library's wrapping of
    one (safetensors' ``SafetensorError``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            if current.errno in DISK_FULL_ERRNOS:
                return True
        elif _DISK_FULL_TEXT.search(str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False


def format_size(size: int) -> str:
    """``size`` bytes in a unit a person reads: "512 bytes", "3.4 MB", "1.2 GB"."""
    if size < 1000:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def _free_space(folder: Path) -> int | None:
    """Bytes free on the disk holding ``folder`` (or its nearest existing parent)."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


@contextmanager
def disk_space_for(folder: str | os.PathLike[str], what: str, needed: int) -> Iterator[None]:
    """Raise running out of disk space inside the block as one :class:`DiskFullError`.

    ``what`` (e.g. "checkpoint step 40") is being written into ``folder`` and takes about
    ``needed`` bytes. Any other error passes through unchanged. Writers put their files
    in a temporary folder and rename it when complete, so the error leaves the last
    good checkpoint or artifact as it was, and a rerun resumes from it.
    """
    try:
        yield
    except Exception as exc:  # an inner guard's DiskFullError is restated for the whole write
        if not is_disk_full(exc):
            raise
        path = Path(folder)
        free = _free_space(path)
        shown_free = f"{format_size(free)} free now" if free is not None else "free space unknown"
        raise DiskFullError(
            f"the disk is full: writing {what} to {path} needs about {format_size(needed)} "
            f"({shown_free}). Free space on that disk and run the same command again: the "
            "distillation resumes from its last complete checkpoint"
        ) from exc


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


def save_staged(
    model: Any, folder: Path, add_manifest: Callable[[Path], None], *, what: str
) -> None:
    """Save a student ``model`` (``save_artifact``, ``state_dict``) and its manifest
    (``add_manifest(staging)``) in a staging folder, then rename that to ``folder``.

    A kill or a full disk leaves no half-written ``folder``: the partial staging folder is
    removed, and a full disk raises :class:`~ragdistill.errors.DiskFullError` naming the
    folder and about the model's size (``what`` says what it is, in the message).
    """
    staging = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    needed = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    try:
        with disk_space_for(folder.parent, what, needed):
            model.save_artifact(staging)
            add_manifest(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


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
    recipe_fingerprint: str | None = None,
) -> dict[str, Any]:
    """Checksum every file in ``root`` and write its manifest.

    Refuses what no load would accept: pickle files, a symbolic link leaving the folder,
    and ``load_options`` a manifest may not carry (see :func:`check_load_options`).
    Credentials in ``teacher``, ``student`` and ``recipe`` are masked
    (:func:`~ragdistill.credentials.mask_secrets`).
    """
    path = Path(root)
    if not (isinstance(stage, str) and stage.isidentifier()):
        raise ConfigError(f"stage must be the name of a registered stage, got {stage!r}")
    check_load_options(dict(load_options or {}), f"write_manifest({os.fspath(root)!r})")
    refuse_links_outside(path)
    refuse_pickles(path)
    check_modules(path, trust_remote_code=None)
    manifest = {
        "format_version": FORMAT_VERSION,
        "stage": stage,
        "loader": loader,
        "load_options": dict(load_options or {}),
        # Descriptions of components built in code may hold a key a recipe never can.
        "teacher": mask_secrets(dict(teacher or {})),
        "student": mask_secrets(dict(student or {})),
        "recipe": mask_secrets(dict(recipe or {})),
        "data_fingerprint": data_fingerprint,
        # What trained it (ragdistill.recipes.recipe_fingerprint): a rerun of the same
        # recipe finds its artifact done instead of saving it again.
        "recipe_fingerprint": recipe_fingerprint,
        "metrics": dict(metrics or {}),
        "libraries": library_versions(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": file_checksums(path),
    }
    _write_json_atomically(path / MANIFEST_NAME, manifest, what="the artifact manifest")
    return manifest


def _write_json_atomically(path: Path, data: Mapping[str, Any], *, what: str) -> None:
    """Write ``data`` to a temporary file beside ``path``, then replace ``path`` with it."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with disk_space_for(path.parent, what, len(text.encode())):
            tmp.write_text(text)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def read_manifest(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of an artifact, its shape checked (:func:`check_manifest`), or None
    for a plain model folder."""
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ChecksumError(f"{path} is not valid JSON ({exc}); re-create the artifact") from None
    check_manifest(manifest, path)
    return manifest


def _kind(value: Any) -> str:
    """What a JSON value is, in a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "a table", list: "a list", str: "a string", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)  # fmt: skip


def _malformed(where: Path, field: str, wanted: str, value: Any) -> ConfigError:
    return ConfigError(
        f"{where}: {field} must be {wanted}, got {_kind(value)}; the manifest is damaged or "
        "hand-edited: re-create the artifact (ragdistill.artifacts.write_manifest)"
    )


def check_manifest(manifest: Any, where: Path) -> None:
    """Refuse a manifest whose fields are missing or of the wrong type, naming the field.

    Required: ``stage`` (a stage name), ``loader`` (a registered loader's name) and
    ``files`` (``{relative path: {"sha256": 64 hex digits, "size": bytes}}``). The
    tables ``load_options``, ``teacher``, ``student``, ``recipe``, ``metrics`` and
    ``libraries`` may be absent.
    """
    if not isinstance(manifest, dict):
        raise _malformed(where, "the manifest", "a JSON object", manifest)
    version = manifest.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool):
        raise _malformed(where, '"format_version"', "a whole number", version)
    if version > FORMAT_VERSION:
        raise ConfigError(
            f"{where}: format_version {version} was written by a newer ragdistill (this one "
            f"reads up to {FORMAT_VERSION}); upgrade ragdistill to load it"
        )
    for field in ("stage", "loader", "files"):
        if field not in manifest:
            raise ConfigError(
                f"{where}: the required field {field!r} is missing; the manifest is damaged or "
                "hand-edited: re-create the artifact (ragdistill.artifacts.write_manifest)"
            )
    stage, loader = manifest["stage"], manifest["loader"]
    if not (isinstance(stage, str) and stage.isidentifier()):
        raise _malformed(where, '"stage"', "the name of a registered stage", stage)
    if not (isinstance(loader, str) and loader):
        raise _malformed(where, '"loader"', "a registered loader's name", loader)
    for field in ("load_options", "teacher", "student", "recipe", "metrics", "libraries"):
        if not isinstance(manifest.get(field, {}), dict):
            raise _malformed(where, f'"{field}"', "a table", manifest[field])
    files = manifest["files"]
    if not isinstance(files, dict):
        raise _malformed(where, '"files"', 'a table of {path: {"sha256", "size"}}', files)
    for rel, entry in files.items():
        field = f'"files" entry {rel!r:.80}'
        if not rel:
            raise _malformed(where, '"files"', "a table keyed by file paths", "")
        if not isinstance(entry, dict):
            raise _malformed(where, field, 'a table {"sha256", "size"}', entry)
        sha, size = entry.get("sha256"), entry.get("size")
        if not (isinstance(sha, str) and _SHA256.fullmatch(sha)):
            raise _malformed(where, f"{field} sha256", "64 lowercase hex digits", sha)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _malformed(where, f"{field} size", "a size in bytes", size)


def check_load_options(options: Any, where: str, field: str = "load_options") -> None:
    """Refuse a manifest's ``load_options`` that would widen what a load may do.

    A manifest says how to run the folder's own model: ``task``, ``num_queries``,
    prompts (``rewrite_prompt``...), ``max_new_tokens``, ``expansion``, ``prefix``,
    ``max_length``, ``device``... It may not, at any depth (nested tables and lists
    included), set an option of :data:`REFUSED_LOAD_OPTIONS` (remote code, another model,
    a server, credentials) or one whose name ends as in
    :data:`REFUSED_LOAD_OPTION_ENDINGS` (``*_url``, ``*_key``, ``*_token``, ``*_env``,
    ``*_dir``, ``*_path``, ``*_file``...). Those come only from the caller's own keyword
    arguments (``load_component(path, trust_remote_code=True)``). A loader with an option
    of that kind should name it so: the rule is by name, not a list of loaders.
    """
    if isinstance(options, Mapping):
        for key, value in options.items():
            here = f"{field}.{key}"
            reason = refused_load_option(str(key))
            if reason is not None:
                top = here.split(".")[1].split("[")[0]
                raise ConfigError(
                    f"{where}: {here} {reason}, and a manifest may never widen what a load "
                    f"does; leave it out of the manifest's load_options (pass {top}=... to "
                    "load_component yourself if you trust the folder for that)"
                )
            check_load_options(value, where, here)
    elif isinstance(options, list | tuple):
        for i, value in enumerate(options):
            check_load_options(value, where, f"{field}[{i}]")


def refused_load_option(key: str) -> str | None:
    """Why a manifest may not set the loader option ``key``, or None when it may."""
    name = key.lower()
    if name in REFUSED_LOAD_OPTIONS:
        return REFUSED_LOAD_OPTIONS[name]
    for ending, reason in REFUSED_LOAD_OPTION_ENDINGS.items():
        if name.endswith(ending):
            return reason
    return None


def update_metrics(root: str | os.PathLike[str], metrics: Mapping[str, Any]) -> None:
    """Merge ``metrics`` into an artifact's manifest (files are unchanged)."""
    manifest = read_manifest(root)
    if manifest is None:
        raise ConfigError(f"{root} has no {MANIFEST_NAME}; it is not a ragdistill artifact")
    manifest["metrics"] = {**manifest.get("metrics", {}), **metrics}
    _write_json_atomically(Path(root) / MANIFEST_NAME, manifest, what="the artifact manifest")


def verify_artifact(
    root: str | os.PathLike[str], manifest: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Check the folder against its manifest (read here unless ``manifest`` is given);
    raise :class:`ChecksumError` naming the file at fault.

    Every listed path must stay inside the folder, symbolic links resolved; no link in
    the folder may leave it; every weight or code file (:data:`LOADABLE_SUFFIXES`) must
    be listed; every size is compared before any file is hashed; pickle files, indexes of
    pickle shards and module paths leaving the folder are refused
    (:mod:`ragdistill.artifact_checks`).
    """
    path = Path(root)
    if manifest is None:
        manifest = read_manifest(path)
        if manifest is None:
            raise ConfigError(f"{path} has no {MANIFEST_NAME}; it is not a ragdistill artifact")
    where = path / MANIFEST_NAME
    check_manifest(manifest, where)  # cheap, and a caller may pass one it built itself
    base = path.resolve()
    found = refuse_links_outside(path)
    refuse_pickles(path)
    check_modules(path, trust_remote_code=None)  # classes: when the caller's option is known
    listed: dict[Path, tuple[Path, str]] = {}
    for rel, expected in manifest["files"].items():
        file = _inside(base, rel, where)
        shown = path / rel
        if not file.exists():
            raise ChecksumError(
                f"{shown} is listed in the manifest but missing; re-run the distillation"
            )
        if not file.is_file():
            raise ChecksumError(
                f"{shown} is listed in {where} but is not a regular file; re-create the artifact"
            )
        size = file.stat().st_size
        if size != expected["size"]:
            raise ChecksumError(
                f"{shown} is {size} bytes, its manifest says {expected['size']}: the artifact "
                "was modified or corrupted; re-run the distillation"
            )
        listed[file] = (shown, expected["sha256"])
    unlisted = sorted(
        p.relative_to(base).as_posix()
        for p in found
        if p.suffix.lower() in LOADABLE_SUFFIXES and p.resolve() not in listed
    )
    if unlisted:
        raise ChecksumError(
            f"{where} does not list {', '.join(unlisted[:5])}"
            f"{f' and {len(unlisted) - 5} more' if len(unlisted) > 5 else ''}: every weight "
            "and code file of an artifact must be checksummed; re-create the artifact "
            "(ragdistill.artifacts.write_manifest) or remove the files"
        )
    for file, (shown, sha) in listed.items():
        actual = sha256_file(file)
        if actual != sha:
            raise ChecksumError(
                f"{shown} does not match its manifest (sha256 {actual[:12]}..., expected "
                f"{sha[:12]}...): the artifact was modified or corrupted"
            )
    return dict(manifest)


def _inside(base: Path, rel: str, where: Path) -> Path:
    """The listed file ``rel``, resolved, refused unless it lies inside ``base``."""
    pure = PurePosixPath(rel)
    if pure.is_absolute() or Path(rel).is_absolute() or ".." in pure.parts:
        raise ChecksumError(
            f"{where} lists {rel!r:.200}, a path outside the artifact folder; a manifest lists "
            "only the folder's own files (relative, without '..'): re-create the artifact"
        )
    try:
        file = (base / rel).resolve()
    except (OSError, RuntimeError) as exc:  # a symbolic link loop
        raise ChecksumError(
            f"{where} lists {rel!r:.200}, which cannot be resolved ({exc})"
        ) from None
    if not file.is_relative_to(base):
        raise ChecksumError(
            f"{where} lists {rel!r:.200}, a symbolic link to {file}, outside the artifact "
            "folder; copy the file into the folder and re-create the artifact"
        )
    return file


def refuse_links_outside(root: Path) -> list[Path]:
    """Every file under ``root`` (links not followed); refuses a symbolic link, file or
    folder, that resolves outside ``root``, where a loader would read unchecked files."""
    base = Path(root).resolve()
    files = []
    for folder, dirs, names in os.walk(base):  # links to folders are listed, not entered
        for entry in [Path(folder, name) for name in dirs + names]:
            if not entry.is_symlink():
                continue
            try:
                target: Path | None = entry.resolve()
            except (OSError, RuntimeError):  # a symbolic link loop
                target = None
            if target is None or not target.is_relative_to(base):
                shown = Path(root) / entry.relative_to(base)
                raise ChecksumError(
                    f"{shown} is a symbolic link to {target or 'itself'}, outside the "
                    f"artifact {root}; an artifact holds its own files: copy the target "
                    "in (and re-create the manifest) or remove the link"
                )
        files += [Path(folder, name) for name in names]
    return files
