"""Training callbacks: observe a distillation run (TensorBoard, MLflow, W&B...) from a plugin.

A callback subclasses :class:`TrainingCallback`, overrides the ``on_*`` methods it needs
(every one is a no-op here) and is registered by name through the ``register_callbacks``
hook. A recipe enables it with ``[train] callbacks = ["name"]``; the name is checked
against the registry, and the class constructed, when the recipe is validated. The shared
training loop (:func:`ragdistill.distill.loop.train`) then builds one instance per run
and calls it, whatever the stage, so no tracker needs a change to the loop.

Enabling or removing a callback never changes the recipe's fingerprint: a run resumes
with other callbacks. A resumed run calls :meth:`TrainingCallback.on_train_begin` with
the checkpoint's step, then continues at the next step, so a tracker logs each step once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from ragdistill.config import validate_options

C = TypeVar("C", bound="TrainingCallback")


@dataclass(frozen=True)
class TrainingRun:
    """What a callback learns when training starts."""

    #: The run folder (``recipe.output``); write files under a folder of your own in it.
    output: Path
    #: The step training ends at.
    total_steps: int
    #: 0 for a fresh run, else the checkpoint step a resumed run continues from.
    start_step: int
    #: The recipe fingerprint the checkpoints carry (one per run configuration).
    fingerprint: str


class TrainingCallback:
    """Base of the callbacks a ``register_callbacks`` hook registers.

    Its typed ``__init__`` holds its options (none, for a callback a recipe only names);
    keep it cheap, since recipe validation constructs it. Import a tracking library in
    :meth:`on_train_begin`, not at module level. An exception raised by a callback
    stops training, as the error of any other part of the run would.
    """

    #: The validated options it was built from; empty (and read-only) when built directly.
    options: Mapping[str, Any] = MappingProxyType({})

    @classmethod
    def from_options(cls: type[C], options: Mapping[str, Any], *, where: str = "callback") -> C:
        kwargs = validate_options(cls, options, where=where)
        callback = cls(**kwargs)
        callback.options = dict(kwargs)
        return callback

    def on_train_begin(self, run: TrainingRun) -> None:
        """Before the first step of this process (after a checkpoint is restored)."""

    def on_step(self, step: int, record: Mapping[str, Any]) -> None:
        """After each optimizer step. ``record`` is the line ``train_log.jsonl`` gets:
        ``step``, ``epoch``, ``loss``, ``loss/<name>`` per loss, ``lr`` and, on an
        evaluation step, the ``eval/<metric>`` values."""

    def on_evaluate(self, step: int, metrics: Mapping[str, float]) -> None:
        """After an evaluation (every ``train.eval_every`` steps), before :meth:`on_step`;
        ``metrics`` are the stage's evaluation metrics, without the ``eval/`` prefix. With
        ``train.eval_on_start`` the first is at step 0, the student's start, which no
        :meth:`on_step` follows."""

    def on_checkpoint(self, step: int, path: Path) -> None:
        """After the checkpoint of ``step`` was written (atomically) to ``path``."""

    def on_train_end(self, step: int) -> None:
        """When training stops, at the last step done; also after an error. Close here."""
