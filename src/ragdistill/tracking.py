"""The built-in TensorBoard training callback (``[train] callbacks = ["tensorboard"]``).

It logs through the ``tensorboard`` library's own event writer (via
``torch.utils.tensorboard.SummaryWriter``), under ``<output>/tensorboard``: view it with
``tensorboard --logdir <output>/tensorboard``. It is registered only when ``tensorboard``
is installed (``pip install 'ragdistill[tracking]'``); otherwise a recipe naming it fails
validation with that hint, and ``ragdistill plugins`` lists it as unavailable.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ragdistill.callbacks import TrainingCallback, TrainingRun
from ragdistill.errors import MissingDependencyError

#: The folder under the run's output that holds the event files.
FOLDER = "tensorboard"
INSTALL_HINT = "pip install 'ragdistill[tracking]'"


class TensorBoardCallback(TrainingCallback):
    """Every step's numbers (loss, each loss part, learning rate, evaluation metrics) as
    TensorBoard scalars at their step. A resumed run purges the events a killed run had
    written after its checkpoint, so each step's curve point is the one that counts."""

    def __init__(self) -> None:
        self._writer: Any = None

    @property
    def log_dir(self) -> Path | None:
        return Path(self._writer.log_dir) if self._writer is not None else None

    def on_train_begin(self, run: TrainingRun) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise MissingDependencyError(
                f"the tensorboard training callback needs the 'tensorboard' package: {INSTALL_HINT}"
            ) from exc
        # purge_step hides events of steps >= it left by an earlier, interrupted process.
        self._writer = SummaryWriter(
            log_dir=str(run.output / FOLDER), purge_step=run.start_step + 1
        )

    def on_step(self, step: int, record: Mapping[str, Any]) -> None:
        for key, value in record.items():
            if key == "step" or key.startswith("eval/"):  # on_evaluate wrote those
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._writer.add_scalar(key, value, global_step=step)

    def on_evaluate(self, step: int, metrics: Mapping[str, float]) -> None:
        # Here rather than in on_step: the start's evaluation (step 0) has no step record.
        for key, value in metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._writer.add_scalar(f"eval/{key}", value, global_step=step)

    def on_checkpoint(self, step: int, path: Path) -> None:
        self._writer.flush()  # what a checkpoint keeps, the curves keep too

    def on_train_end(self, step: int) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
