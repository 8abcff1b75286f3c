"""The distillation training loop shared by every stage.

Inputs are addressed by index; the teacher's outputs for a batch come from a callback
(usually the teacher cache), so no stage needs its own loop. Batches follow a seeded
permutation per epoch, which makes a resumed run see exactly the batches an unbroken
run would have seen. ``train.group_by_length`` groups inputs of similar length into
a batch, so a step pads less. Registered training callbacks (``train.callbacks``)
observe each step, evaluation and checkpoint (:mod:`ragdistill.callbacks`).

With ``train.metric_for_best`` the weights of the best evaluation are kept on disk and
restored at the end, so the artifact is the best model seen rather than the last (the
student's start is evaluated too, ``train.eval_on_start``, so training that only made it
worse on the dev split returns the start); with
``train.early_stopping_patience`` training stops once that metric has stopped improving
(as transformers' ``EarlyStoppingCallback`` does: the learning-rate schedule keeps the
length ``train.epochs`` gives it). Both are part of the checkpoint state, so a run killed
after it stopped resumes to the same result without training further.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ragdistill.artifacts import disk_space_for
from ragdistill.callbacks import TrainingCallback, TrainingRun
from ragdistill.config import build
from ragdistill.distill.accelerated import Processes
from ragdistill.distill.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    prune_best,
    save_best,
    save_checkpoint,
)
from ragdistill.distill.selection import BestTracker, restore_best, share_best
from ragdistill.errors import ConfigError
from ragdistill.recipes.schema import TrainSpec
from ragdistill.students.model import StudentModel

log = logging.getLogger(__name__)

#: What a teacher-output callback returns: the outputs, or the outputs and extra loss kwargs.
TeacherBatch = torch.Tensor | tuple[torch.Tensor, dict[str, Any]]


@dataclass
class TrainResult:
    #: Steps trained: the planned total, or the step training stopped early at.
    steps: int
    resumed_from: int
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    #: With ``train.metric_for_best``: the evaluation whose weights the model now holds.
    best_step: int | None = None
    best_metric: float | None = None
    stopped_early: bool = False
    stopped_at: int | None = None

    @property
    def still_rising(self) -> bool:
        """The best evaluation was the last step and no patience ran out: the curve had
        not levelled off when the epochs ran out, so more of them may still help."""
        return (
            self.best_step is not None and not self.stopped_early and self.best_step == self.steps
        )

    def selection_metrics(self, metric_for_best: str | None) -> dict[str, Any]:
        """What a manifest records of checkpoint selection (nothing without a metric)."""
        if metric_for_best is None:
            return {}
        return {
            "train/metric_for_best": metric_for_best,
            "train/best_step": self.best_step,
            "train/best_metric": self.best_metric,
            "train/stopped_early": self.stopped_early,
            "train/stopped_at": self.stopped_at,
            "train/still_rising": self.still_rising,
        }


def steps_per_epoch(n: int, batch_size: int) -> int:
    # The last partial batch is dropped when smaller than 2: in-batch losses need pairs.
    full, rest = divmod(n, batch_size)
    return full + (1 if rest >= 2 else 0)


#: Batches per length-sorted group, as in transformers' ``LengthGroupedSampler``.
MEGABATCH = 50


def epoch_order(
    n: int, seed: int, epoch: int, *, batch_size: int = 1, lengths: Sequence[int] | None = None
) -> np.ndarray:
    """The input indices of one epoch, in the order their batches are drawn.

    With ``lengths``, batches are grouped by length: the shuffled inputs are cut into
    groups of up to ``MEGABATCH`` batches, each group is sorted by length and cut into
    batches, and the full batches are shuffled again. A batch then pads to a length
    close to its own texts' instead of to the longest text in the corpus, which on
    mixed corpora (short titles beside long passages) halves the tokens a step reads.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n)
    if lengths is None:
        return order
    sizes = np.asarray(lengths)
    if len(sizes) != n:
        raise ValueError(f"lengths has {len(sizes)} entries for {n} inputs")
    group = batch_size * max(1, min(MEGABATCH, n // (4 * batch_size)))
    chunks = np.split(order, range(group, n, group))
    grouped = np.concatenate([c[np.argsort(-sizes[c], kind="stable")] for c in chunks])
    full = n // batch_size * batch_size
    batches = grouped[:full].reshape(-1, batch_size)[rng.permutation(n // batch_size)]
    # The short remainder stays last, where steps_per_epoch expects a partial batch.
    return np.concatenate([batches.ravel(), grouped[full:]])


def input_lengths(inputs: Sequence[Any]) -> list[int]:
    """Characters per training input (a text, or the texts of a tuple such as a pair)."""

    def size(item: Any) -> int:
        if isinstance(item, str):
            return len(item)
        if isinstance(item, (tuple, list)):
            return sum(size(part) for part in item)
        return 1

    return [size(item) for item in inputs]


def batch_orders(inputs: Sequence[Any], spec: TrainSpec) -> Callable[[int], np.ndarray]:
    """``epoch -> order`` for ``inputs`` under ``spec`` (seeded, length-grouped if asked)."""
    lengths = input_lengths(inputs) if spec.group_by_length else None

    @lru_cache(maxsize=1)  # the loop asks once per step; an epoch's order is drawn once
    def order_of(epoch: int) -> np.ndarray:
        return epoch_order(
            len(inputs), spec.seed, epoch, batch_size=spec.batch_size, lengths=lengths
        )

    return order_of


def build_callbacks(spec: TrainSpec) -> list[TrainingCallback]:
    """The callbacks ``train.callbacks`` names, built from the registry."""
    if not spec.callbacks:
        return []
    from ragdistill.registry import default_registry

    registry = default_registry()
    return [
        build(registry.callback(name), {}, f"train.callbacks[{i}]")
        for i, name in enumerate(spec.callbacks)
    ]


def train(
    model: StudentModel,
    loss: torch.nn.Module,
    inputs: Sequence[Any],
    teacher_outputs: Callable[[list[int]], TeacherBatch],
    spec: TrainSpec,
    *,
    output: Path,
    fingerprint: str,
    also_resumes: Sequence[str] = (),
    device: str = "cpu",
    evaluate: Callable[[], dict[str, float]] | None = None,
    show_progress: bool = True,
    order_of: Callable[[int], np.ndarray] | None = None,
    callbacks: Sequence[TrainingCallback] | None = None,
    processes: Processes | None = None,
) -> TrainResult:
    """Train ``model`` so ``loss(model(batch), teacher)`` falls; resumes from checkpoints.

    ``teacher_outputs(indices)`` returns the teacher's outputs for the batch, or a pair
    ``(outputs, extra)`` whose ``extra`` keyword arguments (e.g. a candidate ``mask``)
    are passed on to the loss. ``order_of(epoch)`` is the epoch's input order when a stage
    composes its own batches (default: :func:`batch_orders`). ``callbacks`` default to
    those ``spec.callbacks`` names; each is told the step a resumed run starts from.
    Checkpoints resume when they carry ``fingerprint`` or one of ``also_resumes`` (the
    same recipe's older fingerprints: ``recipe_fingerprints(recipe)[1:]``).

    An ``Accelerator`` (:mod:`ragdistill.distill.accelerated`) owns precision
    (``train.mixed_precision``), gradient accumulation (a step is
    ``train.gradient_accumulation_steps`` batches, drawn in order across epochs) and,
    under a launcher, the data parallel all-reduce: every process draws the same seeded
    batches and trains on its shard of each. A pipeline that runs under a launcher says
    so by passing ``processes`` (only its main process then writes anything); without
    it a launched run is refused. Only the main process writes the log, checkpoints and
    callbacks' output; ``evaluate`` runs there only.
    """
    from tqdm.auto import tqdm

    from ragdistill.distill import accelerated

    if len(inputs) < 2:
        raise ConfigError(f"distillation needs at least 2 training texts, got {len(inputs)}")
    tracker = BestTracker.of(spec)
    if tracker is not None and evaluate is None and processes is None:
        raise ConfigError(
            f"train.metric_for_best = {spec.metric_for_best!r} needs evaluations during "
            "training, and this stage runs none; leave metric_for_best and "
            "early_stopping_patience unset"
        )
    if processes is None and accelerated.launched()[1] > 1:
        raise ConfigError(
            "this stage's pipeline trains in one process only; run it without --processes "
            "(or outside accelerate launch / torchrun)"
        )
    per_epoch = steps_per_epoch(len(inputs), spec.batch_size)
    accumulate = spec.gradient_accumulation_steps
    total = -(-per_epoch * spec.epochs // accumulate)  # the last step may run into the next epoch
    if spec.max_steps is not None:
        total = min(total, spec.max_steps)
    accelerator = accelerated.make_accelerator(spec, device)
    main, rank, count = (
        accelerator.is_main_process,
        accelerator.process_index,
        accelerator.num_processes,
    )
    torch.manual_seed(spec.seed)
    target = accelerated.training_device(accelerator, device)
    model.to(target)
    loss.to(target)
    params = [p for p in [*model.parameters(), *loss.parameters()] if p.requires_grad]
    optimizer = _adamw(params, spec)
    warmup = int(total * spec.warmup_ratio)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    modules = {"student": model, "loss": loss}
    ckpt_dir = output / "checkpoints"
    log_path = output / "train_log.jsonl"
    step, earlier_seconds = 0, 0.0
    state: dict[str, Any] = {}
    accelerator.wait_for_everyone()  # every process reads the checkpoints the main one left
    if (found := latest_checkpoint(ckpt_dir)) is not None:
        state = load_checkpoint(found, modules=modules, optimizer=optimizer, scheduler=scheduler)
        if state.get("fingerprint") not in (fingerprint, *also_resumes):
            raise ConfigError(
                f"{output} holds checkpoints of a different recipe; use another output folder, "
                "or pass --restart to discard them"
            )
        accelerated.restore_rng(accelerator, state)
        step = int(state["step"])
        if state.get("total", total) != total:  # e.g. a dev split now holds some texts out
            log.warning(
                "the checkpoint in %s was planned for %d steps and this run plans %d: the "
                "training texts changed since; pass --restart for an exact run",
                output, state["total"], total,
            )  # fmt: skip
        if tracker is not None:
            tracker.restore(state.get("best", {}))
        earlier_seconds = float(state.get("seconds", 0.0))  # training time before the kill
        if main:
            _truncate_log(log_path, step)
        log.info("resuming %s from checkpoint step %d of %d", output, step, total)
    elif main and log_path.exists():
        log_path.unlink()  # a log without checkpoints belongs to no run we can continue
    # One module, so the all-reduce covers the loss's parameters (projections) too.
    wrapped, stepper = accelerator.prepare(_Distillation(model, loss), optimizer)
    if accelerator.scaler is not None and "grad_scaler" in state:
        accelerator.scaler.load_state_dict(state["grad_scaler"])
    result = TrainResult(steps=total, resumed_from=step)
    callbacks = build_callbacks(spec) if callbacks is None else callbacks
    if main:
        output.mkdir(parents=True, exist_ok=True)  # the log, checkpoints and trackers go there
    observers = _Observers(callbacks if main else [], TrainingRun(output, total, step, fingerprint))
    started = time.perf_counter()
    order_of = order_of or batch_orders(inputs, spec)
    # Training time as of the last step: the final checkpoint stores this same figure, so
    # a resume that trains nothing reports what the unbroken run reported.
    seconds = earlier_seconds
    model.train()
    takes_step = _takes_keywords(loss)
    bar = tqdm(total=total, initial=step, desc="distilling", unit="step",
               disable=not (show_progress and main))  # fmt: skip
    if tracker is not None and tracker.stopped_at is not None:
        log.info("training stopped early at step %d; nothing left to train", tracker.stopped_at)

    def evaluation(at: int) -> dict[str, float]:
        """Evaluate the weights as they are at step ``at``; the ``eval/`` log fields."""
        model.eval()
        with torch.no_grad():
            metrics = evaluate()  # type: ignore[misc]  # only called when given
        model.train()
        observers.on_evaluate(at, metrics)
        if tracker is not None and tracker.update(at, tracker.value_in(metrics)):
            save_best(ckpt_dir, step=at, modules=modules, state=tracker.state())
        return {f"eval/{k}": v for k, v in metrics.items()}

    with bar, observers:
        # The student's start is evaluated too: with metric_for_best it competes with the
        # trained weights, so a distillation that never beats it returns the start.
        if step == 0 and spec.eval_on_start and spec.eval_every:
            if main and evaluate is not None:
                at_start = {"step": 0, "epoch": 0, **evaluation(0)}
                bar.write(_format_eval(at_start))
                with disk_space_for(output, "the training log at step 0", 1024):
                    log_path.write_text(json.dumps(at_start) + "\n")
            if tracker is not None and count > 1:
                share_best(accelerator, tracker, main, target)
        while step < total and (tracker is None or tracker.stopped_at is None):
            figures: list[list[float]] = []  # loss and parts of each batch of the step
            for micro in range(accumulate):
                epoch, offset = divmod(step * accumulate + micro, per_epoch)
                order = order_of(epoch)
                start = offset * spec.batch_size
                batch_idx = [int(i) for i in order[start : start + spec.batch_size]]
                batch_idx = accelerated.shard(batch_idx, rank, count)
                teacher, extra = _split(teacher_outputs(batch_idx), target)
                if takes_step:  # the update about to be made: a loss may schedule itself
                    extra["step"] = step
                with accelerator.accumulate(wrapped):
                    total_loss, parts = wrapped([inputs[i] for i in batch_idx], teacher, extra)
                    accelerator.backward(total_loss)
                    if accelerator.sync_gradients:
                        accelerator.clip_grad_norm_(params, spec.max_grad_norm)
                    stepper.step()
                    stepper.zero_grad(set_to_none=True)
                figures.append([float(total_loss.detach()), *map(float, parts.values())])
            scheduler.step()
            step += 1
            means = [sum(column) / len(figures) for column in zip(*figures)]
            if count > 1:  # every process logs (and checks) the mean over the processes
                reduced = accelerator.reduce(torch.tensor(means, device=target), "mean")
                means = [float(v) for v in reduced.tolist()]
            record: dict[str, Any] = {
                "step": step,
                "epoch": epoch,
                "loss": means[0],
                **{f"loss/{k}": v for k, v in zip(parts, means[1:])},
                "lr": scheduler.get_last_lr()[0],
            }
            if not math.isfinite(record["loss"]):
                raise ConfigError(
                    f"the loss became {record['loss']} at step {step}; lower train.learning_rate"
                )
            bar.set_postfix(loss=f"{record['loss']:.4g}")
            bar.update(1)
            # When selecting the best, the last step is evaluated too: it is a candidate.
            evaluating = bool(spec.eval_every) and (
                step % spec.eval_every == 0 or (tracker is not None and step == total)
            )
            if main and evaluate is not None and evaluating:
                record.update(evaluation(step))
                bar.write(_format_eval(record))
            if tracker is not None and evaluating and count > 1:
                share_best(accelerator, tracker, main, target)
            result.history.append(record)
            if main:
                line = json.dumps(record) + "\n"
                what = f"the training log at step {step}"
                with disk_space_for(output, what, len(line)), open(log_path, "a") as fh:
                    fh.write(line)
            observers.on_step(step, record)
            seconds = earlier_seconds + time.perf_counter() - started
            # A run that stops early checkpoints where it stopped: a resume then ends there.
            stopping = tracker is not None and tracker.stopped_at is not None
            if step % spec.checkpoint_every == 0 or step == total or stopping:
                process_rng = accelerated.gather_rng(accelerator)  # every process calls it
                if main:
                    run_state = _run_state(fingerprint, total, seconds, accelerator, process_rng)
                    if tracker is not None:
                        run_state["best"] = tracker.state()
                    saved = save_checkpoint(
                        ckpt_dir,
                        step=step,
                        modules=modules,
                        optimizer=optimizer,
                        scheduler=scheduler,
                        state=run_state,
                        keep=spec.keep_checkpoints,
                    )
                    if tracker is not None:  # the newest checkpoint names the only best kept
                        prune_best(ckpt_dir, tracker.step)
                    observers.on_checkpoint(step, saved)
            if stopping and tracker is not None and main:
                best = "none" if tracker.value is None else f"{tracker.value:.4g}"
                log.info(
                    "stopping at step %d: %s has not improved for %d evaluations; "
                    "best %s at step %s", step, tracker.metric, tracker.waited, best, tracker.step,
                )  # fmt: skip
    if tracker is not None:
        accelerator.wait_for_everyone()  # the main process wrote the best weights
        restore_best(tracker, ckpt_dir, modules, report=main)
        result.best_step, result.best_metric = tracker.step, tracker.value
        result.stopped_early = tracker.stopped_at is not None
        result.stopped_at = tracker.stopped_at
    model.eval()
    result.steps = step
    result.seconds = seconds
    if result.still_rising and main:
        log.warning(
            "%s was still improving at the last step (%d): training ended on its epoch count, "
            "not on a plateau. Raise train.epochs (early stopping ends it when the dev split "
            "stops gaining)", tracker.metric if tracker else "the metric", step,
        )  # fmt: skip
    return result


class _Distillation(torch.nn.Module):
    """The student and the loss as one module: what the data parallel wrapper syncs."""

    def __init__(self, student: StudentModel, loss: torch.nn.Module) -> None:
        super().__init__()
        self.student = student
        self.loss = loss

    def forward(
        self, batch: list[Any], teacher: torch.Tensor, extra: dict[str, Any]
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        out: tuple[torch.Tensor, dict[str, Any]] = self.loss(self.student(batch), teacher, **extra)
        return out


def _run_state(
    fingerprint: str,
    total: int,
    seconds: float,
    accelerator: Any,
    process_rng: list[list[int]] | None,
) -> dict[str, Any]:
    """What a checkpoint stores besides tensors: alone, exactly what it always stored."""
    state: dict[str, Any] = {"fingerprint": fingerprint, "total": total, "seconds": seconds}
    if process_rng is not None:
        state["process_rng"] = process_rng  # each process's dropout RNG, for exact resume
    if accelerator.scaler is not None:  # fp16: the loss scale is part of the run
        state["grad_scaler"] = accelerator.scaler.state_dict()
    return state


class _Observers:
    """Calls every callback in turn; ``on_train_end`` with the last step done, even after
    an error."""

    def __init__(self, callbacks: Sequence[TrainingCallback], run: TrainingRun) -> None:
        self.callbacks = list(callbacks)
        self.done = run.start_step
        for callback in self.callbacks:
            callback.on_train_begin(run)

    def __enter__(self) -> _Observers:
        return self

    def __exit__(self, *exc: object) -> None:
        for callback in self.callbacks:
            callback.on_train_end(self.done)

    def on_step(self, step: int, record: dict[str, Any]) -> None:
        self.done = step
        for callback in self.callbacks:
            callback.on_step(step, record)

    def on_evaluate(self, step: int, metrics: dict[str, float]) -> None:
        for callback in self.callbacks:
            callback.on_evaluate(step, metrics)

    def on_checkpoint(self, step: int, path: Path) -> None:
        for callback in self.callbacks:
            callback.on_checkpoint(step, path)


def _takes_keywords(loss: torch.nn.Module) -> bool:
    """Whether ``loss.forward`` accepts extra keywords (every distillation loss does)."""
    import inspect

    params = inspect.signature(loss.forward).parameters.values()
    return any(p.kind is inspect.Parameter.VAR_KEYWORD or p.name == "step" for p in params)


def _split(out: TeacherBatch, device: str | torch.device) -> tuple[torch.Tensor, dict[str, Any]]:
    teacher, extra = out if isinstance(out, tuple) else (out, {})
    moved = {k: v.to(device) if torch.is_tensor(v) else v for k, v in extra.items()}
    return teacher.to(device), moved


def _adamw(params: list[torch.nn.Parameter], spec: TrainSpec) -> torch.optim.Optimizer:
    # The fused kernel updates every parameter in one pass: on a CPU it is several
    # times faster than the per-tensor loop (it needs torch >= 2.4 there).
    lr, weight_decay = spec.learning_rate, spec.weight_decay
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def _truncate_log(path: Path, step: int) -> None:
    """Drop log records of steps after the checkpoint: they are about to be redone."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # the end of a line cut by a kill or a full disk
            continue
        if record["step"] <= step:
            kept.append(line)
    path.write_text("".join(line + "\n" for line in kept))


def _format_eval(record: dict[str, Any]) -> str:
    evals = ", ".join(f"{k[5:]}={v:.4f}" for k, v in record.items() if k.startswith("eval/"))
    return f"step {record['step']}: {evals}"
