"""A full disk while a checkpoint or the artifact is written (#19 item 12): one clear
:class:`DiskFullError` naming the folder and the space needed instead of a raw
``OSError``/``SafetensorError``; the last complete checkpoint stays intact, and the rerun
after space is freed resumes and finishes.

The disk is filled by fault injection at the OS boundary: safetensors' file writer (or a
JSON file write) raises what it raises on ``ENOSPC``, after writing part of the file.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
from safetensors import SafetensorError

from ragdistill.artifacts import is_disk_full
from ragdistill.errors import DiskFullError, RagdistillError
from ragdistill.loading import load_component
from tests.core.tiny_beir import tiny_recipe, write_tiny_beir

#: What safetensors raises when the disk fills during ``save_file`` (its Rust writer's
#: ``std::io::Error``, formatted with ``{:?}`` in ``serialize_file``).
SAFETENSORS_ENOSPC = (
    "Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
    'message: "No space left on device" })'
)


def fill_disk_at(monkeypatch: pytest.MonkeyPatch, target: str, *, kind: str) -> None:
    """Make the write of a file whose path contains ``target`` run out of space.

    ``kind="safetensors"`` fails safetensors' file writer (every ``save_file``,
    transformers' and sentence-transformers' included, goes through it);
    ``kind="oserror"`` fails a text file write (``state.json``, a manifest) with
    ``OSError(ENOSPC)``. Either writes a few bytes first: the part that fitted.
    """
    if kind == "safetensors":
        real = safetensors.torch.serialize_file

        def serialize_file(tensor_dict, filename, metadata=None):  # type: ignore[no-untyped-def]
            if target in str(filename):
                Path(filename).write_bytes(b"\0" * 64)
                raise SafetensorError(SAFETENSORS_ENOSPC)
            return real(tensor_dict, filename, metadata=metadata)

        monkeypatch.setattr(safetensors.torch, "serialize_file", serialize_file)
        return
    real_write_text: Callable[..., int] = Path.write_text

    def write_text(self: Path, data: str, *args: object, **kwargs: object) -> int:
        if target in str(self):
            real_write_text(self, data[:64])
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)


def write_recipe(root: Path, student: Path) -> Path:
    data = write_tiny_beir(root / "beir")
    path = tiny_recipe(root, student, student, data, extra="ab = false")
    text = path.read_text().replace("epochs = 3", "epochs = 1\nmax_steps = 6")
    path.write_text(text.replace("checkpoint_every = 3", "checkpoint_every = 2"))
    return path


def logged_steps(out: Path) -> list[int]:
    lines = (out / "train_log.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines]


def weights(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.safetensors"))
    }


@pytest.mark.parametrize(
    "kind, target",
    [("safetensors", "tmp-step-00000004/optimizer"), ("oserror", "tmp-step-00000004/state.json")],
)
def test_a_full_disk_during_a_checkpoint_then_resume(
    tmp_path, tiny_st_path, monkeypatch, caplog, kind, target
):
    from ragdistill.distill import run_recipe

    recipe = write_recipe(tmp_path, tiny_st_path)
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        fill_disk_at(patch, target, kind=kind)
        with pytest.raises(DiskFullError) as caught:
            run_recipe(recipe, show_progress=False)
    message = str(caught.value)
    assert f"writing checkpoint step 4 to {out / 'checkpoints'} needs about" in message
    assert re.search(r"needs about \d+(\.\d)? (KB|MB)", message), message
    assert "Free space on that disk and run the same command again" in message
    assert "resumes from its last complete checkpoint" in message
    assert isinstance(caught.value, RagdistillError) and isinstance(caught.value, OSError)
    assert is_disk_full(caught.value.__cause__)
    # The partial checkpoint is gone; the last complete one is untouched.
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000002"]

    with caplog.at_level(logging.INFO, logger="ragdistill.distill.loop"):
        artifact = run_recipe(recipe, show_progress=False)
    assert "from checkpoint step 2 of 6" in caplog.text
    assert logged_steps(out) == [0, 1, 2, 3, 4, 5, 6]  # each step once, over the two runs
    load_component(artifact)  # complete and verified against its manifest

    # Exactly the weights of a run the disk never interrupted.
    unbroken = run_recipe(write_recipe(tmp_path / "unbroken", tiny_st_path), show_progress=False)
    assert weights(artifact) == weights(unbroken)


@pytest.mark.parametrize(
    "kind, target", [("safetensors", ".student.tmp/"), ("oserror", ".student.tmp/.ragdistill")]
)
def test_a_full_disk_while_the_artifact_is_written_then_resume(
    tmp_path, tiny_st_path, monkeypatch, kind, target
):
    from ragdistill.distill import run_recipe

    recipe = write_recipe(tmp_path, tiny_st_path)
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        fill_disk_at(patch, target, kind=kind)
        with pytest.raises(DiskFullError, match=rf"writing the distilled student to {out} "):
            run_recipe(recipe, show_progress=False)
    assert not (out / "student").exists() and not (out / ".student.tmp").exists()
    assert (out / "checkpoints" / "step-00000006" / "state.json").is_file()

    artifact = run_recipe(recipe, show_progress=False)  # trains nothing: writes the artifact
    assert logged_steps(out) == [0, 1, 2, 3, 4, 5, 6]
    load_component(artifact)


def test_a_full_disk_while_the_training_log_is_appended_then_resume(
    tmp_path, tiny_st_path, monkeypatch
):
    """The disk fills in the middle of step 5's log line: one clear error, and the rerun
    drops the cut line, resumes from the step-4 checkpoint and logs each step once."""
    import builtins

    import ragdistill.distill.loop as loop
    from ragdistill.distill import run_recipe

    recipe = write_recipe(tmp_path, tiny_st_path)
    out = tmp_path / "out"

    class FillingLog:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def __enter__(self) -> FillingLog:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

        def write(self, text: str) -> int:
            if json.loads(text)["step"] == 5:
                self.fh.write(text[:20])
                raise OSError(errno.ENOSPC, "No space left on device")
            return int(self.fh.write(text))

    def filling_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = builtins.open(path, mode, *args, **kwargs)  # noqa: SIM115 (closed by the caller)
        return FillingLog(fh) if str(path).endswith("train_log.jsonl") and "a" in mode else fh

    with monkeypatch.context() as patch:
        patch.setattr(loop, "open", filling_open, raising=False)
        with pytest.raises(DiskFullError, match="writing the training log at step 5 to "):
            run_recipe(recipe, show_progress=False)
    artifact = run_recipe(recipe, show_progress=False)
    assert logged_steps(out) == [0, 1, 2, 3, 4, 5, 6]
    load_component(artifact)


def test_a_full_disk_while_the_baseline_is_written(tmp_path, tiny_st_path, monkeypatch):
    from ragdistill.distill import run_recipe

    recipe = write_recipe(tmp_path, tiny_st_path)
    with monkeypatch.context() as patch:
        fill_disk_at(patch, ".baseline.tmp/", kind="safetensors")
        with pytest.raises(DiskFullError, match="writing the student before distillation"):
            run_recipe(recipe, show_progress=False)
    out = tmp_path / "out"
    assert not (out / "baseline").exists() and not (out / ".baseline.tmp").exists()
    run_recipe(recipe, show_progress=False)
    load_component(out / "baseline", "embedder")


@pytest.mark.parametrize(
    "exc, full",
    [
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
        (SafetensorError(SAFETENSORS_ENOSPC), True),
        (Exception("No space left on device (os error 28)"), True),  # tokenizers' wording
        (OSError(errno.EACCES, "Permission denied"), False),
        (SafetensorError("Error while serializing: InvalidTensorView"), False),
        (ValueError("No space left on device"), True),
        (ValueError("bad shape"), False),
    ],
)
def test_what_counts_as_a_full_disk(exc, full):
    assert is_disk_full(exc) is full


def test_a_disk_full_error_raised_from_another_is_recognised():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("could not save") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
