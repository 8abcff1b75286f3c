"""The built-in runtime: PyTorch on the CPU, CUDA or MPS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragdistill.contracts import Component, Stage
from ragdistill.errors import ConfigError
from ragdistill.runtime import RuntimeBackend


class TorchRuntime(RuntimeBackend):
    """PyTorch on ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto`` (CUDA when available)."""

    def __init__(self, device: str = "auto", threads: int | None = None) -> None:
        if not (device in ("auto", "cpu", "cuda", "mps") or device.startswith("cuda:")):
            raise ConfigError(
                f"runtime.device must be auto, cpu, cuda, cuda:N or mps, got {device!r}"
            )
        if threads is not None and threads < 1:
            raise ConfigError(f"runtime.threads must be >= 1, got {threads}")
        self.device = device
        self.threads = threads

    def resolved_device(self) -> str:
        """The device, ``auto`` resolved; sets torch's thread count when ``threads`` is set.

        That count is one setting of the process, not of a model: with two runtimes that
        set different ``threads`` in one process, the one resolved last holds for both.
        """
        if self.threads is None and self.device == "cpu":
            return "cpu"  # nothing to ask torch, so loading a CPU artifact stays cheap
        import torch

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(
                f"runtime.device is {self.device!r} but torch sees no CUDA device; use 'cpu' or 'auto'"
            )
        return self.device

    def training_device(self) -> str:
        return self.resolved_device()

    def load(self, path: Path, stage: Stage | None = None, **options: Any) -> Component:
        """The artifact's registered loader, on this runtime's device when it takes a
        ``device`` option (one passed in ``options`` wins)."""
        from ragdistill.config import options_model
        from ragdistill.loading import build_component, locate

        artifact = locate(path, stage)
        if (
            "device" not in options
            and "device" in options_model(artifact.loader_class).model_fields
        ):
            options = {**options, "device": self.resolved_device()}
        return build_component(artifact, **options)
