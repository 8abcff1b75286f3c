"""The model cache: one folder per model, a checksum record, atomic installs.

Layout under :func:`cache_root` (``$RAGDISTILL_HOME/models``, else the user cache dir)::

    <safe-name>/                  the model files, as a library loads them
    <safe-name>/ragdistill-model.json   name, source, fetched_at, meta, files
    .tmp/<safe-name>+XXXX/        a pull in progress (renamed into place when done)
    .locks/<safe-name>.lock       one process installs or removes a model at a time

The record keeps each file's sha256 and size, plus the (size, mtime_ns) stamp seen at
the last verification: loading re-hashes only the files whose stamp changed, so a
damaged file is refused without re-reading gigabytes on every load.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragdistill.errors import ChecksumError, RagdistillError

if TYPE_CHECKING:
    from filelock import BaseFileLock

RECORD = "ragdistill-model.json"
HOME_ENV = "RAGDISTILL_HOME"
_CHUNK = 1 << 20


def home() -> Path:
    """``$RAGDISTILL_HOME`` if set, else the user cache directory for ragdistill."""
    if value := os.environ.get(HOME_ENV):
        return Path(value).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("ragdistill"))


def cache_root() -> Path:
    return home() / "models"


def downloads_dir() -> Path:
    """Where downloaded wheels are kept, so a re-pull or another model reuses them."""
    return home() / "downloads"


def safe_name(name: str) -> str:
    """A folder name for ``name``; distinct names never share a folder."""
    plain = name.replace("/", "--")
    # "+" is left out: it separates a name from the suffix of its temporary folders.
    safe = re.sub(r"[^A-Za-z0-9._@-]+", "_", plain).lstrip(".") or "_"
    if safe != plain or "--" in name:  # lossy: keep names that sanitise alike apart
        safe += "-" + hashlib.sha1(name.encode()).hexdigest()[:8]
    return safe


def model_dir(name: str) -> Path:
    return cache_root() / safe_name(name)


def lock(name: str, *, timeout: float = -1) -> BaseFileLock:
    from filelock import FileLock

    locks = cache_root() / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    return FileLock(str(locks / f"{safe_name(name)}.lock"), timeout=timeout)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def hash_tree(folder: Path) -> dict[str, dict[str, Any]]:
    """sha256, size and mtime stamp of every file under ``folder`` (but the record)."""
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel == RECORD:
            continue
        st = path.stat()
        files[rel] = {"sha256": file_digest(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return files


def read_record(folder: Path) -> dict[str, Any]:
    try:
        record: dict[str, Any] = json.loads((folder / RECORD).read_text())
        return record
    except FileNotFoundError:
        raise RagdistillError(
            f"{folder} has no {RECORD}: it is not a model fetched by ragdistill. Remove the "
            f"folder and pull the model again"
        ) from None
    except (OSError, ValueError) as exc:
        raise ChecksumError(
            f"{folder / RECORD} is unreadable ({exc}); remove the folder and pull the model again"
        ) from None


def _write_record(folder: Path, record: dict[str, Any]) -> None:
    tmp = folder / f".{RECORD}.{uuid.uuid4().hex}"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, folder / RECORD)  # never a half-written record


@dataclass(frozen=True)
class CachedModel:
    """One model in the cache, as ``ragdistill models list`` shows it."""

    name: str
    path: Path
    source: str
    fetched_at: str
    size: int
    files: int
    meta: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "source": self.source,
            "fetched_at": self.fetched_at,
            "size": self.size,
            "files": self.files,
            "meta": self.meta,
        }


def cached(name: str) -> Path | None:
    """The cached folder of ``name`` (exactly this name, no alias), if it is installed."""
    folder = model_dir(name)
    return folder if (folder / RECORD).is_file() else None


def install(
    name: str, source: str, fill: Callable[[Path], dict[str, Any]], *, force: bool = False
) -> Path:
    """Fetch ``name`` with ``fill(tmp_dir) -> meta`` unless cached; return its folder.

    ``fill`` writes into a fresh folder under ``.tmp``; the folder is hashed, recorded
    and renamed into place only when ``fill`` returns, all under the model's lock, so
    a concurrent pull waits and then finds the model, and a killed pull leaves only a
    temporary folder that the next pull deletes.
    """
    root = cache_root()
    final = model_dir(name)
    with lock(name):
        if not force and (final / RECORD).is_file():
            check(final)
            return final
        scratch = root / ".tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        prefix = f"{safe_name(name)}+"
        for stale in scratch.glob(prefix + "*"):  # we hold the lock: these are dead pulls
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=scratch))
        old: Path | None = None
        try:
            meta = fill(tmp)
            files = hash_tree(tmp)
            if not files:
                raise RagdistillError(f"model source {source!r} wrote no files for {name!r}")
            record = {
                "name": name,
                "source": source,
                "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "meta": meta,
                "files": files,
            }
            _write_record(tmp, record)
            if final.exists():
                old = scratch / f"{prefix}old-{uuid.uuid4().hex}"
                final.rename(old)
            try:
                tmp.rename(final)
            except BaseException:
                if old is not None:  # put the previous copy back rather than lose it
                    old.rename(final)
                    old = None
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
    return final


def check(folder: Path, *, full: bool = False) -> dict[str, Any]:
    """Refuse a damaged cached model; return its record.

    The fast check (``full=False``) re-hashes only files whose size or mtime changed
    since the last verification; ``full=True`` re-hashes every file. Stamps of files
    found intact are refreshed, so the next fast check skips them.
    """
    record = read_record(folder)
    name = record.get("name", folder.name)
    fix = f"ragdistill models rm {name} && ragdistill models pull {name}"
    refreshed = False
    for rel, info in record.get("files", {}).items():
        path = folder / rel
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ChecksumError(
                f"cached model {name!r} is missing {rel} ({folder}); fetch it again: {fix}"
            ) from None
        if st.st_size != info["size"]:
            raise ChecksumError(
                f"cached model {name!r}: {rel} is {st.st_size} bytes, expected {info['size']} "
                f"({folder}); the file is damaged, fetch it again: {fix}"
            )
        if not full and st.st_mtime_ns == info.get("mtime_ns"):
            continue
        actual = file_digest(path)
        if actual != info["sha256"]:
            raise ChecksumError(
                f"cached model {name!r}: {rel} has sha256 {actual}, expected {info['sha256']} "
                f"({folder}); the file is damaged, fetch it again: {fix}"
            )
        if info.get("mtime_ns") != st.st_mtime_ns:
            info["mtime_ns"] = st.st_mtime_ns
            refreshed = True
    if refreshed:
        # A read-only cache still verifies; it just re-hashes next time.
        with contextlib.suppress(OSError):
            _write_record(folder, record)
    return record


def list_models() -> list[CachedModel]:
    """Every installed model, by name."""
    root = cache_root()
    if not root.is_dir():
        return []
    models = []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not (folder / RECORD).is_file():
            continue
        try:
            record = read_record(folder)
        except RagdistillError:
            continue
        files = record.get("files", {})
        models.append(
            CachedModel(
                name=record.get("name", folder.name),
                path=folder,
                source=record.get("source", "?"),
                fetched_at=record.get("fetched_at", "?"),
                size=sum(f["size"] for f in files.values()),
                files=len(files),
                meta=record.get("meta", {}),
            )
        )
    return sorted(models, key=lambda m: m.name.lower())


def remove(name: str) -> bool:
    """Delete a cached model (exactly this name); False if it was not cached."""
    final = model_dir(name)
    with lock(name):
        if not final.exists():
            return False
        scratch = cache_root() / ".tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        # Rename first: the model disappears at once, even if deleting it is slow.
        doomed = scratch / f"{safe_name(name)}+rm-{uuid.uuid4().hex}"
        final.rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)
    return True
