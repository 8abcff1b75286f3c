"""Runtime backends: where and how a model runs (torch CPU/CUDA, ONNX Runtime, ...).

A backend has a typed ``__init__`` (its recipe ``[runtime]`` options, or
``--runtime-option KEY=VALUE`` on the command line) and one abstract method,
:meth:`RuntimeBackend.load`, which runs a saved artifact as a component. Everything
that loads an artifact goes through it: :func:`ragdistill.loading.load_component`
(``runtime=``), the A/B arms of a recipe (its ``[runtime]``), ``ragdistill ab <stage>
--runtime NAME`` and the framework shims' ``from_artifact(..., runtime=...)``.
Training uses :meth:`RuntimeBackend.training_device`, which only a backend that can
train (the torch one) implements.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from ragdistill.config import validate_options
from ragdistill.contracts import Component, Stage
from ragdistill.errors import ConfigError

R = TypeVar("R", bound="RuntimeBackend")


class RuntimeBackend(ABC):
    #: The validated options it was built from; empty (and read-only) when built directly.
    options: Mapping[str, Any] = MappingProxyType({})

    @classmethod
    def from_options(cls: type[R], options: Mapping[str, Any], *, where: str = "runtime") -> R:
        """Build from a mapping (the recipe's ``[runtime]`` table), validated against
        ``__init__``: a misspelled key fails here, naming ``where.key``."""
        kwargs = validate_options(cls, options, where=where)
        runtime = cls(**kwargs)
        runtime.options = dict(kwargs)
        return runtime

    @abstractmethod
    def load(self, path: Path, stage: Stage | None = None, **options: Any) -> Component:
        """Load the artifact or model folder at ``path`` as a component on this runtime.

        ``stage`` is the stage the caller expects (None: whatever the folder holds).
        ``options`` are the loader component's options the caller passed (``batch_size``,
        ``max_new_tokens``...); they win over the artifact manifest's ``load_options``.
        :func:`ragdistill.loading.locate` reads and verifies the folder (checksums,
        stage, registered loader) and :func:`ragdistill.loading.build_component` builds
        that loader, for a runtime that only changes how the component is placed.
        """

    def training_device(self) -> str:
        """The torch device students train on; backends that cannot train refuse."""
        raise ConfigError(
            f"runtime {type(self).__name__} cannot train; use runtime.backend = 'torch'"
        )
