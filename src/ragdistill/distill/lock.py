"""One run per output folder: an OS-level lock held for the whole run.

``<output>/.ragdistill.lock`` is locked through :mod:`filelock` (``flock`` on Unix,
``LockFileEx`` on Windows), so the kernel releases it when its process dies: a killed
run never blocks the next one, whatever it left on disk. The holder writes its process
id beside it, in ``.ragdistill.pid``, so that a second run can say who holds the folder.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import BaseFileLock, FileLock, Timeout

from ragdistill.errors import RagdistillError

LOCK_NAME = ".ragdistill.lock"
PID_NAME = ".ragdistill.pid"

# Folders this process holds, with how many nested holds: run_recipe inside a command
# that already holds its output must not lock itself out (two flock descriptors on one
# file exclude each other even within one process).
_held: dict[Path, tuple[BaseFileLock, int]] = {}
_held_guard = threading.Lock()


class OutputInUseError(RagdistillError):
    """Another process is running on this output folder."""


def _holder(folder: Path) -> str:
    """Who holds ``folder``, from the pid file its holder writes just after locking."""
    for _ in range(20):  # the holder may be between taking the lock and writing its pid
        try:
            pid = (folder / PID_NAME).read_text().strip()
        except FileNotFoundError:
            pid = ""
        if pid.isdigit():
            return f"process {pid}"
        time.sleep(0.05)
    return "another process"


def _write_pid(folder: Path) -> None:
    tmp = folder / f"{PID_NAME}.tmp"
    tmp.write_text(f"{os.getpid()}\n")
    tmp.replace(folder / PID_NAME)


@contextmanager
def hold_output(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``folder`` (created if absent) for the block; yields its resolved path.

    Raises :class:`OutputInUseError` at once, naming the folder and the process id, when
    another process holds it. Reentrant within one process. Released on exit, exceptions
    included.
    """
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    path = path.resolve()
    with _held_guard:
        if path in _held:
            lock, depth = _held[path]
            _held[path] = (lock, depth + 1)
        else:
            lock = FileLock(str(path / LOCK_NAME))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                raise OutputInUseError(
                    f"output folder {path} is in use by {_holder(path)} (another ragdistill "
                    f"run); wait for it to finish or give this recipe another output"
                ) from None
            try:
                _write_pid(path)
            except BaseException:
                lock.release()
                raise
            _held[path] = (lock, 1)
    try:
        yield path
    finally:
        with _held_guard:
            lock, depth = _held.pop(path)
            if depth > 1:
                _held[path] = (lock, depth - 1)
            else:
                try:  # removed while still held, so it never deletes a successor's pid
                    (path / PID_NAME).unlink(missing_ok=True)
                finally:
                    lock.release()
