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
