"""Training callbacks (#18 defect 11): registered through a hook by a real plugin, called by
the shared loop on step, evaluation and checkpoint, and resumed at the checkpoint's step."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
import torch

from ragdistill import plugins
from ragdistill.distill.loop import train
from ragdistill.recipes.schema import TrainSpec
from ragdistill.students.model import StudentModel
from tests.core.fake_dists import PluginInstaller

RECORDER_PLUGIN = """
import json

from ragdistill.callbacks import TrainingCallback
from ragdistill.hookspecs import hookimpl


class Recorder(TrainingCallback):
    \"\"\"Appends every call it gets to <output>/recorded.jsonl.\"\"\"

    def on_train_begin(self, run):
        self.file = run.output / "recorded.jsonl"
        self.write("begin", run.start_step, total=run.total_steps)

    def write(self, event, step, **extra):
        with open(self.file, "a") as fh:
            fh.write(json.dumps({"event": event, "step": step, **extra}) + "\\n")

    def on_step(self, step, record):
        self.write("step", step, loss=record["loss"], lr=record["lr"])

    def on_evaluate(self, step, metrics):
        self.write("evaluate", step, **metrics)

    def on_checkpoint(self, step, path):
        self.write("checkpoint", step, path=str(path))

    def on_train_end(self, step):
        self.write("end", step)


@hookimpl
def register_callbacks(register):
    register("recorder", Recorder)
"""


class Line(StudentModel):
    """y = a * x + b on scalar inputs: a real (if tiny) trainable student."""

    output_dim = 1

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)

    def forward(self, batch: Any) -> torch.Tensor:
        out: torch.Tensor = self.linear(torch.tensor(batch, dtype=torch.float32).unsqueeze(1))
        return out

    def save_artifact(self, path: Path) -> None:  # never called by the loop
        raise NotImplementedError


class MSE(torch.nn.Module):
    def forward(
        self, student: torch.Tensor, teacher: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = ((student - teacher) ** 2).mean()
        return loss, {"mse": loss.detach()}


INPUTS = [float(i) / 8 for i in range(8)]
TARGETS = torch.tensor([[2 * x + 1] for x in INPUTS])


def run(
    output: Path, callbacks: list[str], *, fail_at_call: int | None = None, steps: int = 4
) -> None:
    calls = []

    def teacher_outputs(indices: list[int]) -> torch.Tensor:
        calls.append(indices)
        if len(calls) == fail_at_call:
            raise RuntimeError("killed")
        return TARGETS[indices]

    spec = TrainSpec(
        batch_size=2, max_steps=steps, checkpoint_every=2, eval_every=2, callbacks=callbacks
    )
    train(
        Line(),
        MSE(),
        INPUTS,
        teacher_outputs,
        spec,
        output=output,
        fingerprint="fp",
        evaluate=lambda: {"mae": 0.5},
        show_progress=False,
    )


@pytest.fixture
def recorder_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``rd-recorder`` installed as a real distribution; the process-wide manager reset."""
    monkeypatch.delenv(plugins.LOAD_ENV, raising=False)
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    installer = PluginInstaller(tmp_path / "site", monkeypatch)
    (tmp_path / "site").mkdir()
    installer.install(
        "rd-recorder", entry_name="recorder", module="rd_recorder", source=RECORDER_PLUGIN
    )
    plugins.reset()
    try:
        yield
    finally:
        plugins.reset()
        sys.modules.pop("rd_recorder", None)


def events(output: Path) -> list[tuple[str, int]]:
    lines = (output / "recorded.jsonl").read_text().splitlines()
    return [(e["event"], e["step"]) for e in map(json.loads, lines)]


def test_a_plugin_callback_sees_steps_evaluations_and_checkpoints(recorder_plugin, tmp_path):
    run(tmp_path / "out", ["recorder"])
    assert events(tmp_path / "out") == [
        ("begin", 0),
        ("evaluate", 0),  # the student's start (train.eval_on_start)
        ("step", 1),
        ("evaluate", 2), ("step", 2), ("checkpoint", 2),
        ("step", 3),
        ("evaluate", 4), ("step", 4), ("checkpoint", 4),
        ("end", 4),
    ]  # fmt: skip
    lines = [json.loads(x) for x in (tmp_path / "out" / "recorded.jsonl").read_text().splitlines()]
    assert lines[0]["total"] == 4 and lines[1]["mae"] == lines[3]["mae"] == 0.5
    assert all(Path(e["path"]).is_dir() for e in lines if e["event"] == "checkpoint")
    log = [json.loads(x) for x in (tmp_path / "out" / "train_log.jsonl").read_text().splitlines()]
    assert [e["loss"] for e in lines if e["event"] == "step"] == [r["loss"] for r in log[1:]]
    assert log[0] == {"step": 0, "epoch": 0, "eval/mae": lines[1]["mae"]}


def test_a_resumed_run_continues_logging_at_the_checkpoint_step(recorder_plugin, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="killed"):
        run(out, ["recorder"], fail_at_call=4)  # dies in step 4, after the step-2 checkpoint
    assert events(out)[-2:] == [("step", 3), ("end", 3)]  # told where it stopped
    (out / "recorded.jsonl").unlink()
    run(out, ["recorder"])
    assert events(out) == [
        ("begin", 2),
        ("step", 3),
        ("evaluate", 4), ("step", 4), ("checkpoint", 4),
        ("end", 4),
    ]  # fmt: skip


def test_callbacks_are_validated_against_the_registry_and_not_fingerprinted(
    recorder_plugin, tmp_path
):
    from ragdistill.errors import ConfigError
    from ragdistill.recipes import load_recipe, parse_recipe, recipe_fingerprint
    from tests.core.test_recipes import GOOD, write

    base = load_recipe(write(tmp_path, GOOD))
    data = base.model_dump(mode="json")
    tracked = parse_recipe({**data, "train": {**data["train"], "callbacks": ["recorder"]}})
    assert tracked.train.callbacks == ["recorder"]
    assert recipe_fingerprint(tracked) == recipe_fingerprint(base)  # a run resumes either way
    with pytest.raises(ConfigError, match=r"\[train\.callbacks\[0\]\] 'recordr'.*did you mean"):
        parse_recipe({**data, "train": {**data["train"], "callbacks": ["recordr"]}})
    with pytest.raises(ConfigError, match=r"'recorder' listed more than once"):
        parse_recipe({**data, "train": {**data["train"], "callbacks": ["recorder", "recorder"]}})


def test_ragdistill_plugins_lists_the_callbacks(recorder_plugin):
    from click.testing import CliRunner

    from ragdistill.cli import build_cli

    result = CliRunner().invoke(build_cli(), ["plugins", "--all"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "  callback: recorder" in lines
    if find_spec("tensorboard") is not None:  # else listed as unavailable, with the hint
        assert "  callback: tensorboard" in lines
    else:
        assert "pip install 'ragdistill[tracking]'" in result.output


def scalars(folder: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return [(e.step, e.value) for e in accumulator.Scalars(tag)]


def test_the_tensorboard_callback_writes_events_and_survives_a_resume(tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="killed"):
        run(out, ["tensorboard"], fail_at_call=4)
    run(out, ["tensorboard"])
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    # Step 3 was logged twice (before the kill, then after the resume): only the last counts.
    loss = scalars(out / "tensorboard", "loss")
    assert [step for step, _ in loss] == [1, 2, 3, 4]
    assert [v for _, v in loss] == pytest.approx([r["loss"] for r in log if "loss" in r])
    assert [step for step, _ in scalars(out / "tensorboard", "eval/mae")] == [0, 2, 4]
    assert [step for step, _ in scalars(out / "tensorboard", "loss/mse")] == [1, 2, 3, 4]


def test_without_tensorboard_the_callback_is_unavailable_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ragdistill.errors import UnknownNameError
    from ragdistill.registry import build_registry

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed
    registry = build_registry(plugins.get_plugin_manager(entry_points=False))
    [(plugin, hook, _reason)] = registry.unavailable
    assert (plugin, hook) == ("ragdistill.default_plugins.callbacks", "register_callbacks")
    with pytest.raises(UnknownNameError, match=r"pip install 'ragdistill\[tracking\]'"):
        registry.callback("tensorboard")


def test_callbacks_given_to_train_replace_the_recipe_ones(tmp_path):
    from ragdistill.callbacks import TrainingCallback

    seen: list[int] = []

    class Steps(TrainingCallback):
        def on_step(self, step: int, record: Any) -> None:
            seen.append(step)

    spec = TrainSpec(batch_size=2, max_steps=3, checkpoint_every=5, callbacks=["nope"])
    fit: Callable[[list[int]], torch.Tensor] = lambda idx: TARGETS[idx]  # noqa: E731
    train(Line(), MSE(), INPUTS, fit, spec, output=tmp_path, fingerprint="fp",
          show_progress=False, callbacks=[Steps()])  # fmt: skip
    assert seen == [1, 2, 3]


def test_a_distillation_loss_is_told_the_step(tmp_path):
    """A loss that takes keywords (every DistillationLoss) gets the 0-based step, so it can
    anneal a temperature or a weight; a plain module without keywords is called as before."""
    seen: list[int] = []

    class Annealed(torch.nn.Module):
        def forward(self, student: torch.Tensor, teacher: torch.Tensor, **batch: Any) -> Any:
            seen.append(batch["step"])
            loss = ((student - teacher) ** 2).mean()
            return loss, {"mse": loss.detach()}

    spec = TrainSpec(batch_size=2, max_steps=3, checkpoint_every=2)
    train(Line(), Annealed(), INPUTS, lambda idx: TARGETS[idx], spec, output=tmp_path / "a",
          fingerprint="fp", show_progress=False)  # fmt: skip
    assert seen == [0, 1, 2]
    train(Line(), MSE(), INPUTS, lambda idx: TARGETS[idx], spec, output=tmp_path / "b",
          fingerprint="fp", show_progress=False)  # fmt: skip
