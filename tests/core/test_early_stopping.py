"""Best-checkpoint selection and early stopping in the shared loop (#21 item 3).

A one-parameter-pair student learns y = 2x + 1; its bias climbs past 1 around step 12 and
keeps going while the slope catches up, so "closeness of the bias to 1" rises, peaks and
falls: a real curve with a known best, which the tests score every two steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from ragdistill.distill.loop import BestTracker, train
from ragdistill.errors import ConfigError
from ragdistill.recipes.schema import TrainSpec
from tests.core.test_training_callbacks import INPUTS, MSE, TARGETS, Line

#: Evaluated every 2 steps, closeness peaks at step 12 (bias 0.992, then 1.066 at 14).
BEST = 12


def spec(**changes: Any) -> TrainSpec:
    options: dict[str, Any] = {
        "batch_size": 2,
        "epochs": 10,  # 40 steps planned: the schedule's length, even when stopped early
        "learning_rate": 0.05,
        "eval_every": 2,
        "checkpoint_every": 5,
        "metric_for_best": "closeness",
        "early_stopping_patience": 3,
    }
    return TrainSpec(**{**options, **changes})


def run(
    output: Path, train_spec: TrainSpec, *, crash_at_call: int | None = None
) -> tuple[Line, Any, list[dict[str, torch.Tensor]]]:
    """Train a freshly seeded Line; returns it, the result and the weights each evaluation saw."""
    torch.manual_seed(0)
    model = Line()
    calls: list[list[int]] = []
    evaluated: list[dict[str, torch.Tensor]] = []

    def teacher_outputs(indices: list[int]) -> torch.Tensor:
        calls.append(indices)
        if len(calls) == crash_at_call:
            raise RuntimeError("killed")
        return TARGETS[indices]

    def evaluate() -> dict[str, float]:
        evaluated.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"closeness": -abs(float(model.linear.bias) - 1.0), "other": 0.0}

    result = train(model, MSE(), INPUTS, teacher_outputs, train_spec, output=output,
                   fingerprint="fp", evaluate=evaluate, show_progress=False)  # fmt: skip
    return model, result, evaluated


def line_weights(model: Line) -> list[float]:
    return [float(model.linear.weight.detach()), float(model.linear.bias.detach())]


def ddp_worker(output: Path) -> None:
    """One of two data-parallel processes (``accelerate launch`` runs this file)."""
    from ragdistill.distill.accelerated import processes

    procs = processes("cpu")
    torch.manual_seed(0)
    model = Line()

    def evaluate() -> dict[str, float]:
        return {"closeness": -abs(float(model.linear.bias) - 1.0)}

    result = train(model, MSE(), INPUTS, lambda i: TARGETS[i], spec(), output=output,
                   fingerprint="fp", evaluate=evaluate if procs.is_main else None,
                   show_progress=False, processes=procs)  # fmt: skip
    (output / f"rank{procs.index}.json").write_text(json.dumps({
        "best_step": result.best_step, "stopped_at": result.stopped_at, "steps": result.steps,
        "weights": line_weights(model),
    }))  # fmt: skip


def logged(output: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (output / "train_log.jsonl").read_text().splitlines()]


def test_stops_after_patience_and_restores_the_best_weights(tmp_path):
    model, result, evaluated = run(tmp_path / "out", spec())
    records = logged(tmp_path / "out")
    evals = {r["step"]: r["eval/closeness"] for r in records if "eval/closeness" in r}
    assert max(evals, key=lambda s: evals[s]) == BEST  # the curve peaks where expected
    assert (result.best_step, result.stopped_early) == (BEST, True)
    assert result.stopped_at == result.steps == BEST + 3 * 2  # three evaluations without gain
    assert result.best_metric == evals[BEST]
    # The start is evaluated (step 0), then every step is logged.
    assert [r["step"] for r in records] == list(range(result.steps + 1))
    assert set(records[0]) == {"step", "epoch", "eval/closeness", "eval/other"}
    # The model holds the weights the best evaluation scored, which are the kept ones.
    best = evaluated[BEST // 2]
    assert all(torch.equal(model.state_dict()[k], v) for k, v in best.items())
    ckpts = tmp_path / "out" / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("best-*")) == [f"best-{BEST:08d}"]
    kept = load_file(ckpts / f"best-{BEST:08d}" / "model.safetensors")
    assert all(torch.equal(kept[f"student.{k}"], v) for k, v in best.items())
    # The run checkpointed where it stopped, with the stop in its state.
    state = json.loads((ckpts / f"step-{result.steps:08d}" / "state.json").read_text())
    assert state["best"] == {"metric": "closeness", "step": BEST, "value": evals[BEST],
                             "waited": 3, "stopped_at": result.steps}  # fmt: skip


def test_the_schedule_keeps_its_length_when_stopping_early(tmp_path):
    _, stopped, _ = run(tmp_path / "stopped", spec())
    _, full, _ = run(tmp_path / "full", spec(metric_for_best=None, early_stopping_patience=None))
    assert full.steps == 40 and not full.stopped_early and full.best_step is None
    assert [r["lr"] for r in stopped.history] == [r["lr"] for r in full.history[: stopped.steps]]


def test_without_patience_the_best_is_kept_but_training_runs_to_the_end(tmp_path):
    model, result, evaluated = run(tmp_path / "out", spec(early_stopping_patience=None))
    assert (result.steps, result.stopped_early, result.best_step) == (40, False, BEST)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in evaluated[BEST // 2].items())


def test_a_crash_then_resume_selects_the_same_best_and_stops_at_the_same_step(tmp_path):
    model, unbroken, _ = run(tmp_path / "unbroken", spec())
    # Crash at step 14: best-12 is on disk, the last checkpoint (step 10) knows best 10.
    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path / "out", spec(), crash_at_call=14)
    ckpts = tmp_path / "out" / "checkpoints"
    state = json.loads((ckpts / "step-00000010" / "state.json").read_text())
    assert state["best"]["step"] == 10 and (ckpts / f"best-{BEST:08d}").is_dir()
    resumed_model, resumed, _ = run(tmp_path / "out", spec())
    assert resumed.resumed_from == 10
    assert (resumed.best_step, resumed.stopped_at, resumed.best_metric) == (
        unbroken.best_step, unbroken.stopped_at, unbroken.best_metric
    )  # fmt: skip
    for key, value in model.state_dict().items():
        assert torch.equal(resumed_model.state_dict()[key], value)
    assert [r["step"] for r in logged(tmp_path / "out")] == list(range(unbroken.steps + 1))


def test_a_run_that_stopped_early_resumes_to_the_same_result_without_training(tmp_path):
    model, first, _ = run(tmp_path / "out", spec())
    log_before = (tmp_path / "out" / "train_log.jsonl").read_text()
    # Any teacher call would mean training went on: crash on the first.
    again_model, again, _ = run(tmp_path / "out", spec(), crash_at_call=1)
    assert (again.steps, again.best_step, again.stopped_early) == (first.steps, BEST, True)
    assert again.history == [] and again.resumed_from == first.steps
    assert (tmp_path / "out" / "train_log.jsonl").read_text() == log_before
    for key, value in model.state_dict().items():
        assert torch.equal(again_model.state_dict()[key], value)


def test_two_processes_stop_together_and_both_restore_the_best(tmp_path):
    """Only the main process evaluates; the other learns the stop and the best from it."""
    from ragdistill.distill.accelerated import free_port

    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
              "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
              "--dynamo_backend", "no", "--main_process_port", str(free_port()),
              __file__, str(tmp_path / "two")]  # fmt: skip
    done = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    model, one, _ = run(tmp_path / "one", spec())
    alone = line_weights(model)
    for rank in (0, 1):
        two = json.loads((tmp_path / "two" / f"rank{rank}.json").read_text())
        assert (two["best_step"], two["stopped_at"], two["steps"]) == (BEST, one.stopped_at, 18)
        assert two["weights"] == pytest.approx(alone, rel=1e-5, abs=1e-6)


def test_training_that_never_beats_the_start_keeps_the_start(tmp_path, caplog):
    """Every step moves the bias away from where it began, and the metric rewards staying:
    the start's weights win, and the artifact's model is the student it began as."""
    torch.manual_seed(0)
    model = Line()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    bias0 = float(model.linear.bias.detach())

    def evaluate() -> dict[str, float]:
        return {"stay": -abs(float(model.linear.bias) - bias0)}

    with caplog.at_level("WARNING", logger="ragdistill.distill.loop"):
        result = train(model, MSE(), INPUTS, lambda i: TARGETS[i], spec(metric_for_best="stay"),
                       output=tmp_path, fingerprint="fp", evaluate=evaluate,
                       show_progress=False)  # fmt: skip
    assert (result.best_step, result.best_metric) == (0, 0.0)
    assert result.stopped_at == result.steps == 3 * 2  # patience counts from the start
    assert all(torch.equal(model.state_dict()[k], v) for k, v in start.items())
    assert "no trained weights beat the student's start on stay" in caplog.text
    assert result.selection_metrics("stay")["train/best_step"] == 0


def test_without_eval_on_start_the_first_evaluation_is_a_trained_step(tmp_path):
    _, result, evaluated = run(tmp_path / "out", spec(eval_on_start=False))
    assert result.best_step == BEST and len(evaluated) == result.steps // 2
    assert [r["step"] for r in logged(tmp_path / "out")] == list(range(1, result.steps + 1))


def test_a_metric_the_evaluation_does_not_report_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"'recall'.*\(closeness, other\)"):
        run(tmp_path / "out", spec(metric_for_best="recall"))


def test_the_eval_prefix_of_the_log_is_accepted(tmp_path):
    _, result, _ = run(tmp_path / "out", spec(metric_for_best="eval/closeness"))
    assert result.best_step == BEST


def test_selection_without_an_evaluation_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="needs evaluations during training"):
        train(Line(), MSE(), INPUTS, lambda i: TARGETS[i], spec(), output=tmp_path,
              fingerprint="fp", show_progress=False)  # fmt: skip


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"early_stopping_patience": 2}, "early_stopping_patience needs train.metric_for_best"),
        ({"metric_for_best": "dev/ndcg@10"}, "metric_for_best needs evaluations.*eval_every"),
        ({"metric_for_best": "m", "early_stopping_patience": 2},
         "metric_for_best and train.early_stopping_patience need evaluations.*eval_every"),
        ({"eval_every": 5, "early_stopping_threshold": 0.01}, "threshold has no effect"),
        ({"eval_every": 5, "greater_is_better": False}, "greater_is_better has no effect"),
        ({"eval_every": 5, "metric_for_best": "m", "early_stopping_patience": 0}, "patience"),
    ],
)  # fmt: skip
def test_options_that_cannot_work_fail_on_construction(options, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        TrainSpec(**options)


def test_the_new_options_at_their_defaults_keep_old_fingerprints():
    assert (
        TrainSpec().model_dump()
        == TrainSpec(
            metric_for_best=None,
            greater_is_better=True,
            early_stopping_patience=None,
            early_stopping_threshold=0.0,
            eval_on_start=True,
        ).model_dump()
    )
    dumped = TrainSpec().model_dump()
    assert not {"metric_for_best", "greater_is_better", "early_stopping_patience"} & set(dumped)
    assert "early_stopping_threshold" not in dumped and "eval_on_start" not in dumped
    assert TrainSpec(eval_on_start=False).model_dump()["eval_on_start"] is False
    assert "metric_for_best" in TrainSpec(eval_every=1, metric_for_best="m").model_dump()


def test_patience_counts_gains_no_larger_than_the_threshold_as_none():
    tracker = BestTracker("m", patience=2, threshold=0.1)
    assert tracker.update(1, 0.5) and tracker.waited == 0
    assert tracker.update(2, 0.55) and tracker.waited == 1  # a new best, but a small gain
    assert not tracker.update(3, float("nan")) and tracker.stopped_at == 3
    assert (tracker.step, tracker.value) == (2, 0.55)


def test_lower_is_better_when_asked():
    tracker = BestTracker("loss", greater_is_better=False)
    assert tracker.update(1, 2.0) and tracker.update(2, 1.0) and not tracker.update(3, 1.5)
    assert (tracker.step, tracker.value, tracker.stopped_at) == (2, 1.0, None)


if __name__ == "__main__":  # a worker of test_two_processes_stop_together...
    ddp_worker(Path(sys.argv[1]))


def test_a_run_whose_metric_still_rises_at_its_last_step_says_so(tmp_path, caplog):
    # 8 steps end before the bias reaches 1: every evaluation beats the last.
    with caplog.at_level("WARNING", logger="ragdistill.distill.loop"):
        _, cut, _ = run(tmp_path / "cut", spec(epochs=2))
    assert (cut.steps, cut.best_step, cut.still_rising) == (8, 8, True)
    assert cut.selection_metrics("closeness")["train/still_rising"] is True
    assert "closeness was still improving at the last step (8)" in caplog.text
    assert "Raise train.epochs" in caplog.text

    caplog.clear()
    _, stopped, _ = run(tmp_path / "stopped", spec())
    assert not stopped.still_rising and "still improving" not in caplog.text
    _, unselected, _ = run(
        tmp_path / "plain", spec(metric_for_best=None, early_stopping_patience=None)
    )
    assert not unselected.still_rising and unselected.selection_metrics(None) == {}
