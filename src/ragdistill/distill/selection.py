"""Keeping the best evaluation's weights: the tracker, its sharing across processes and
the restore at the end of training (``train.metric_for_best``, early stopping).

Torch loads only inside the functions that move weights: a report reads
:func:`training_note` without it."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragdistill.errors import ConfigError
from ragdistill.recipes.schema import TrainSpec

log = logging.getLogger("ragdistill.distill.loop")  # the loop's messages, as users filter them


@dataclass
class BestTracker:
    """The best evaluation so far and, with a patience, whether to stop.

    Mirrors transformers: the best is any strict improvement of ``metric``; the patience
    counts evaluations in a row that did not beat the best by more than ``threshold``.
    """

    metric: str
    greater_is_better: bool = True
    patience: int | None = None
    threshold: float = 0.0
    step: int | None = None
    value: float | None = None
    waited: int = 0
    stopped_at: int | None = None

    @classmethod
    def of(cls, spec: TrainSpec) -> BestTracker | None:
        if spec.metric_for_best is None:
            return None
        return cls(
            spec.metric_for_best,
            spec.greater_is_better,
            spec.early_stopping_patience,
            spec.early_stopping_threshold,
        )

    def value_in(self, metrics: dict[str, float]) -> float:
        # The log names them eval/<key>; either spelling is what a user reads there.
        key = self.metric.removeprefix("eval/")
        if key not in metrics:
            raise ConfigError(
                f"train.metric_for_best = {self.metric!r} is not a metric this stage's "
                f"evaluation reports ({', '.join(sorted(metrics)) or 'none'}); name one of them"
            )
        return float(metrics[key])

    def update(self, step: int, value: float) -> bool:
        """Record an evaluation; True when it is the new best."""
        best = self.value
        better = math.isfinite(value) and (
            best is None or (value > best if self.greater_is_better else value < best)
        )
        if better:
            self.step, self.value = step, value
        if better and (best is None or abs(value - best) > self.threshold):
            self.waited = 0
        else:
            self.waited += 1
        if self.patience is not None and self.waited >= self.patience:
            self.stopped_at = step
        return better

    def state(self) -> dict[str, Any]:
        return {"metric": self.metric, "step": self.step, "value": self.value,
                "waited": self.waited, "stopped_at": self.stopped_at}  # fmt: skip

    def restore(self, saved: dict[str, Any]) -> None:
        self.step, self.value = saved.get("step"), saved.get("value")
        self.waited, self.stopped_at = int(saved.get("waited", 0)), saved.get("stopped_at")


def share_best(accelerator: Any, tracker: BestTracker, main: bool, target: Any) -> None:
    """Tell every process the best step and the stop the main process's evaluation found."""
    import torch

    # Shifted by one, so that 0 can say "none" and step 0 (the start) still travels.
    mine = [_plus_one(tracker.step), _plus_one(tracker.stopped_at)] if main else [0, 0]
    shared = accelerator.reduce(torch.tensor(mine, dtype=torch.int64, device=target), "sum")
    tracker.step, tracker.stopped_at = (int(v) - 1 if v else None for v in shared.tolist())


def _plus_one(step: int | None) -> int:
    return 0 if step is None else step + 1


def restore_best(
    tracker: BestTracker, ckpt_dir: Path, modules: dict[str, Any], *, report: bool
) -> None:
    """Load the best evaluation's weights into ``modules`` (the last ones if none ran)."""
    from ragdistill.distill.checkpoint import best_checkpoint, load_weights

    if tracker.step is None:
        if report:
            log.warning(
                "train.metric_for_best: no evaluation ran, so the last weights are kept; "
                "lower train.eval_every to evaluate during training"
            )
        return
    found = best_checkpoint(ckpt_dir, tracker.step)
    if found is None:
        raise ConfigError(
            f"the best weights (step {tracker.step}) are missing from {ckpt_dir}; "
            "rerun with --restart to train again"
        )
    load_weights(found, modules)
    if report and tracker.step == 0:
        log.warning(
            "no trained weights beat the student's start on %s (%.4g at step 0): the "
            "artifact keeps the start's weights. Distillation from this teacher on this data "
            "did not help; try a lower train.learning_rate or a stronger teacher",
            tracker.metric, tracker.value,
        )  # fmt: skip
    elif report:  # only the main process evaluated: the others know the step, not the value
        log.info("restored the best weights: %s = %.4g at step %d",
                 tracker.metric, tracker.value, tracker.step)  # fmt: skip


def training_note(metrics: dict[str, Any]) -> str:
    """How a finished training chose its weights, from its manifest's ``train/`` metrics:
    "best step 240 of 252", "... still rising" at its cap, or that the start was kept.

    A report shows it beside each distilled arm: a candidate whose start was kept is
    the model it started from, not a distilled one, and one still rising wanted more
    steps. Empty when the training kept no best (no ``metric_for_best``).
    """
    best, steps = metrics.get("train/best_step"), metrics.get("train/steps")
    if best is None or steps is None:
        return ""
    if best == 0:
        return (f"best step 0 of {steps}: no trained weights beat the start on "
                "the dev split, so this is the start")  # fmt: skip
    # Manifests written before the loop recorded it: the same test, from the same fields.
    rising = metrics.get(
        "train/still_rising", best == steps and not metrics.get("train/stopped_early")
    )
    return f"best step {best} of {steps}" + (", still rising" if rising else "")
