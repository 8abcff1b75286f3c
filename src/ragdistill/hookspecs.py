"""The hooks a ragdistill plugin can implement.

Every hook receives a ``register`` callback and pushes objects into it, the way
simonw/llm does it. The core calls each hook once per registry build (lazily, on first
use, never at import), and it knows which plugin made each call, so a duplicate name
is reported against both plugins. Built-in adapters are registered through these
same hooks by the modules in :mod:`ragdistill.default_plugins`.

A broken plugin is skipped, never fatal: one whose hook has a misspelled name or
argument (every hook takes exactly ``register``, or ``cli``) is not loaded, and one
whose hook raises or registers something invalid (a name already taken, a class of the
wrong kind, a student or loss without ``stage``) has *all* its registrations dropped.
Either way ``ragdistill plugins`` lists it as ``FAILED`` with the reason, and the other
plugins keep working.

Keep plugin modules cheap to import: import torch, transformers or an HTTP client
inside the component that needs it, not at module level, so ``ragdistill --help``
stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from ragdistill.contracts import Component
    from ragdistill.datasets import DatasetLoader
    from ragdistill.losses.base import DistillationLoss
    from ragdistill.models.sources import ModelSource
    from ragdistill.runtime import RuntimeBackend
    from ragdistill.stage import DistillationStage
    from ragdistill.students import Student

PROJECT_NAME = "ragdistill"
ENTRY_POINT_GROUP = "ragdistill"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

RegisterStage = Callable[[str, "type[DistillationStage[Any]]"], None]
RegisterTeacher = Callable[[str, "type[Component]"], None]
RegisterStudent = Callable[[str, "type[Student]"], None]
RegisterLoss = Callable[[str, "type[DistillationLoss]"], None]
RegisterRuntime = Callable[[str, "type[RuntimeBackend]"], None]
RegisterDataset = Callable[[str, "type[DatasetLoader]"], None]
RegisterModelSource = Callable[[str, "type[ModelSource]"], None]


@hookspec
def register_stages(register: RegisterStage) -> None:
    """Register distillable stages: ``register(name, cls)`` once per stage.

    ``cls`` subclasses :class:`ragdistill.stage.DistillationStage`; ``name`` equals its
    ``contract.stage`` and names the recipe's ``stage = ...`` and ``[<name>]`` options
    table. The stage supplies its distillation pipeline, its A/B (``ragdistill ab
    <name>``) and its demo recipe; its teachers, students and losses are registered
    through the other hooks, usually by the same plugin module. The built-in embedder
    and reranker stages are registered this way (``ragdistill.stages.*.plugin``).
    Called once each time a registry is built; the CLI builds one with this hook only,
    so keep the stage's module free of heavy imports.
    """


@hookspec
def register_teachers(register: RegisterTeacher) -> None:
    """Register component classes that can serve as a teacher.

    Call ``register(name, cls)`` once per adapter. ``cls`` subclasses one of the
    four contracts in :mod:`ragdistill.contracts` (Embedder, Reranker,
    QueryTransformer, Generator); its stage comes from that base class, so the same
    name may be used once per stage. Called once each time a registry is built.
    """


@hookspec
def register_students(register: RegisterStudent) -> None:
    """Register trainable student builders.

    Call ``register(name, cls)`` with a subclass of :class:`ragdistill.students.Student`.
    A student knows how to build a trainable model, save it as a plain-library
    artifact and load it back as a component of its stage.
    """


@hookspec
def register_losses(register: RegisterLoss) -> None:
    """Register distillation losses by the name a recipe uses (``[[losses]] name = ...``).

    ``cls`` subclasses :class:`ragdistill.losses.base.DistillationLoss` and sets its
    ``stage`` (plus ``also_stages`` when it serves several); a loss without one is refused
    at registration. Its typed ``__init__`` validates the recipe table before any model
    loads.
    """


@hookspec
def register_runtimes(register: RegisterRuntime) -> None:
    """Register runtime backends (torch CPU/CUDA, ONNX Runtime, multi-GPU, ...).

    ``cls`` subclasses :class:`ragdistill.runtime.RuntimeBackend`.
    """


@hookspec
def register_datasets(register: RegisterDataset) -> None:
    """Register dataset loaders by name (``[data] dataset = ...`` in a recipe).

    ``cls`` subclasses :class:`ragdistill.datasets.DatasetLoader`.
    """


@hookspec
def register_model_sources(register: RegisterModelSource) -> None:
    """Register places models can be resolved from (hub ids, local folders, packages).

    ``cls`` subclasses :class:`ragdistill.models.sources.ModelSource`. Sources are
    tried in ascending ``priority`` order when a name carries no ``scheme:`` prefix.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``ragdistill`` command line.

    Called when the CLI starts, after plugins load, once per plugin in registration
    order (the built-ins first). Add commands with ``@cli.command()``; import heavy
    libraries inside the command body. A name another plugin already added is refused
    (the first keeps it) and the clash is logged and listed by ``ragdistill plugins``.
    """


def hook_names() -> list[str]:
    """Names of every hook defined here, for meta-tests and error suggestions."""
    return sorted(name for name, value in globals().items() if _is_hookspec(name, value))


def _is_hookspec(name: str, value: Any) -> bool:
    return callable(value) and hasattr(value, f"{PROJECT_NAME}_spec")
