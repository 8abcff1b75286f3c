"""Runtime backends: where and how a model runs (torch CPU/CUDA, ONNX Runtime, ...).

A backend has a typed ``__init__`` (its recipe ``[runtime]`` options) and one abstract
method, :meth:`RuntimeBackend.load`, which runs a saved artifact as a component.
Training uses :meth:`RuntimeBackend.training_device`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ragdistill.contracts import Component, Stage
from ragdistill.errors import ConfigError


class RuntimeBackend(ABC):
    #: The validated options it was built from; empty (and read-only) when built directly.
    options: Mapping[str, Any] = MappingProxyType({})

    @abstractmethod
    def load(self, path: Path, stage: Stage | None = None) -> Component:
        """Load the artifact or model folder at ``path`` as a component on this runtime."""

    def training_device(self) -> str:
        """The torch device students train on; backends that cannot train refuse."""
        raise ConfigError(
            f"runtime {type(self).__name__} cannot train; use runtime.backend = 'torch'"
        )


class TorchRuntime(RuntimeBackend):
    """PyTorch on ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when available)."""

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

    def load(self, path: Path, stage: Stage | None = None) -> Component:
        from ragdistill.artifacts import load_component

        return load_component(path, stage, device=self.resolved_device())
