"""Processes and devices for the training loop, through :mod:`accelerate`.

One run may span several processes (``ragdistill distill --processes N``, or
``accelerate launch -m ragdistill distill``; one per GPU, or CPU processes over gloo).
Every process runs the same pipeline: each labels its share of the texts into the one
teacher cache, then trains on its shard of every batch, while an ``Accelerator`` owns
device placement, mixed precision, gradient accumulation and the distributed data
parallel all-reduce. Only the main process (index 0) writes the output folder: the
log, the checkpoints and the artifact.

Alone (no launcher), a run is process 0 of 1 and trains exactly as before.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ragdistill.errors import ConfigError, require

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator  # type: ignore[import-untyped]

    from ragdistill.recipes.schema import TrainSpec


def launched() -> tuple[int, int]:
    """``(index, count)`` of this process as the launcher (torchrun, ``accelerate
    launch``) set it in the environment; ``(0, 1)`` when run alone. Starts nothing."""
    count = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), count) if count > 1 else (0, 1)


@dataclass(frozen=True)
class Processes:
    """This process's place in the run: ``index`` of ``count``; 0 is the main one."""

    index: int = 0
    count: int = 1

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def wait(self) -> None:
        """Block until every process gets here (a no-op alone)."""
        if self.count > 1:
            from accelerate import PartialState

            PartialState().wait_for_everyone()

    def total(self, values: list[int]) -> list[int]:
        """Each value summed over the processes (every process gets the sums)."""
        if self.count == 1:
            return list(values)
        import torch
        from accelerate import PartialState
        from accelerate.utils import reduce  # type: ignore[import-untyped]

        state = PartialState()
        summed = reduce(torch.tensor(values, dtype=torch.int64, device=state.device), "sum")
        return [int(v) for v in summed.tolist()]


def processes(device: str = "cpu") -> Processes:
    """This process's place, joining the launcher's process group (gloo when the run
    trains on ``"cpu"``, the GPU backend otherwise). Alone it touches nothing."""
    if launched()[1] == 1:
        return Processes()
    require("accelerate", extra="hf")
    from accelerate import PartialState

    state = PartialState(cpu=device == "cpu")
    return Processes(state.process_index, state.num_processes)


def make_accelerator(spec: TrainSpec, device: str) -> Accelerator:
    """The ``Accelerator`` of one training run on ``device`` under ``spec``.

    ``train.mixed_precision`` other than ``"no"`` needs a GPU: a CPU run is refused
    (rather than quietly trained in fp32 under a recipe that says otherwise, whose
    checkpoints a GPU run would then resume in another precision). Devices are placed
    by the loop (``device_placement=False``), so a single-process run keeps the exact
    device its runtime chose (``cuda:1``, ``mps``); under a launcher each process takes
    the device accelerate gives it.
    """
    require("accelerate", extra="hf")
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState  # type: ignore[import-untyped]
    from accelerate.utils import DistributedDataParallelKwargs

    cpu = device == "cpu"
    if cpu and spec.mixed_precision != "no":
        raise ConfigError(
            f"train.mixed_precision = {spec.mixed_precision!r} needs a GPU, but this run "
            'trains on the CPU; set mixed_precision = "no" (fp32), or give the runtime a '
            "GPU device"
        )
    if launched()[1] == 1:
        # Alone, each run gets a fresh accelerate state: the state is process-wide and
        # refuses a second precision, so two recipes trained in one process could not.
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    return Accelerator(
        cpu=cpu,
        mixed_precision=spec.mixed_precision,
        gradient_accumulation_steps=spec.gradient_accumulation_steps,
        device_placement=False,
        # A student may hold parameters a distillation never reaches (a BERT pooler).
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )


def training_device(accelerator: Accelerator, device: str) -> torch.device:
    """Where this process trains: the runtime's device alone, accelerate's under a launcher."""
    import torch

    if accelerator.num_processes > 1 and device != "cpu":
        return torch.device(accelerator.device)
    return torch.device(device)


def shard(batch: list[int], index: int, count: int) -> list[int]:
    """Process ``index``'s part of a batch: contiguous, sizes differing by at most one.

    The batch is the recipe's ``batch_size`` (the same global batch, and so the same
    steps, whatever the number of processes). A part of fewer than 2 inputs would give
    in-batch losses no pairs: then every process takes the whole batch, and the mean of
    their (equal) gradients is the batch's gradient.
    """
    if count == 1:
        return batch
    size, rest = divmod(len(batch), count)
    if size < 2:
        return batch
    start = index * size + min(index, rest)
    return batch[start : start + size + (1 if index < rest else 0)]


def gather_rng(accelerator: Accelerator) -> list[list[int]] | None:
    """Every process's torch RNG state (dropout draws differ per shard), for a checkpoint;
    None alone, where the checkpoint's own RNG file covers it. A collective: all call it."""
    if accelerator.num_processes == 1:
        return None
    import torch
    from accelerate.utils import gather_object

    states: list[list[int]] = gather_object([torch.get_rng_state().tolist()])
    return states


def restore_rng(accelerator: Accelerator, state: dict[str, Any]) -> None:
    """Set this process's RNG from a checkpoint of as many processes as now run."""
    import torch

    states = state.get("process_rng")
    if accelerator.num_processes > 1 and states and len(states) == accelerator.num_processes:
        torch.set_rng_state(torch.tensor(states[accelerator.process_index], dtype=torch.uint8))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def launch_command(count: int, args: list[str]) -> list[str]:
    """``accelerate launch`` of ``python -m ragdistill ARGS`` in ``count`` processes.

    ``--multi_gpu`` is accelerate's torchrun launcher: it starts ``count`` processes
    whether or not there are GPUs; a process that trains on the CPU joins over gloo
    (:func:`processes`). Precision is the recipe's ``train.mixed_precision``, not the
    launcher's.
    """
    return [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", str(count), "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()),
        "-m", "ragdistill", *args,
    ]  # fmt: skip
