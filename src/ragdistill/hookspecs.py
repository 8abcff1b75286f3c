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
stays fast. Keep constructors cheap too: recipe validation (``ragdistill distill
--check``) constructs every teacher, student, dataset loader, runtime, loss and callback
a recipe names, from its options, to run the range checks in their ``__init__``; load
models and open connections on first use, never in ``__init__``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    from pydantic import BaseModel

    from ragdistill.callbacks import TrainingCallback
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
RegisterCallback = Callable[[str, "type[TrainingCallback]"], None]
RegisterRecipeOptions = Callable[[str, "type[BaseModel]"], None]


@hookspec
def register_stages(register: RegisterStage) -> None:
    """Register distillable stages: ``register(name, cls)`` once per stage.

    ``cls`` subclasses :class:`ragdistill.stage.DistillationStage`; ``name`` equals its
    ``contract.stage`` and names the recipe's ``stage = ...`` and ``[<name>]`` options
    table. The stage supplies its distillation pipeline, its A/B (``ragdistill ab
    <name>``) and its demo recipe (a class that leaves ``distill`` or an A/B method
    abstract is refused: no recipe of it could run); its teachers, students and losses are registered
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
    QueryTransformer, Generator) or a plugin stage's contract, and implements that
    contract's one abstract method (``embed_batch``, ``score_pairs``...); its stage comes
    from that base class, so the same name may be used once per stage. Its typed
    ``__init__`` is its ``[teacher]`` options. Teacher outputs are cached under its
    ``describe()``, which names the ``cache_version`` the class declares or else, for a
    class of a third-party distribution, that distribution's version: a release that
    changes outputs refills the cache. Called once each time a registry is built.
    """


@hookspec
def register_students(register: RegisterStudent) -> None:
    """Register trainable student builders.

    Call ``register(name, cls)`` with a subclass of :class:`ragdistill.students.Student`
    that sets ``stage`` and ``loader`` (the teacher name of the component that loads its
    artifact back) and implements ``build()``. ``build()`` returns a
    :class:`ragdistill.students.model.StudentModel`, a torch module that sets
    ``output_dim`` and implements ``forward(batch)`` and ``save_artifact(path)`` (a
    plain-library folder). Override ``load_options()`` when the loader needs more than
    the path. Its typed ``__init__`` is its ``[student]`` options.
    """


@hookspec
def register_losses(register: RegisterLoss) -> None:
    """Register distillation losses by the name a recipe uses (``[[losses]] name = ...``).

    ``cls`` subclasses :class:`ragdistill.losses.base.DistillationLoss` and sets its
    ``stage`` (plus ``also_stages`` when it serves several); a loss without one is refused
    at registration. Its typed ``__init__`` is its options: the keys of its ``[[losses]]``
    table besides ``name`` and ``weight``, validated (and the loss constructed, so its
    range checks run) before any model loads. Arguments named like the trainer's context
    (``student_dim``, ``teacher_dim``) are filled in by the trainer, not the recipe.
    """


@hookspec
def register_runtimes(register: RegisterRuntime) -> None:
    """Register runtime backends (torch CPU/CUDA, ONNX Runtime, multi-GPU, ...).

    ``cls`` subclasses :class:`ragdistill.runtime.RuntimeBackend` and implements
    ``load(path, stage, **options)`` (an artifact as a component on this runtime; every
    artifact load goes through it: A/B arms, ``load_component`` and the shims'
    ``from_artifact(..., runtime=...)``); a runtime that can train also overrides
    ``training_device()``. Its typed ``__init__`` is its ``[runtime]`` options
    (``backend = "<name>"``), validated by ``from_options``.
    """


@hookspec
def register_datasets(register: RegisterDataset) -> None:
    """Register dataset loaders by name (``[data] dataset = ...`` in a recipe).

    ``cls`` subclasses :class:`ragdistill.datasets.DatasetLoader` and implements
    ``load()``; its typed ``__init__`` is the rest of the ``[data]`` table.
    """


@hookspec
def register_model_sources(register: RegisterModelSource) -> None:
    """Register places models can be resolved from (hub ids, local folders, packages).

    ``cls`` subclasses :class:`ragdistill.models.sources.ModelSource`. Sources are
    tried in ascending ``priority`` order when a name carries no ``scheme:`` prefix.
    """


@hookspec
def register_callbacks(register: RegisterCallback) -> None:
    """Register training callbacks by the name a recipe enables them with
    (``[train] callbacks = ["<name>"]``).

    ``cls`` subclasses :class:`ragdistill.callbacks.TrainingCallback` and overrides any of
    ``on_train_begin(run)``, ``on_step(step, record)``, ``on_evaluate(step, metrics)``,
    ``on_checkpoint(step, path)`` and ``on_train_end(step)``; the shared training loop
    calls them for every stage. The built-in ``tensorboard`` callback is registered this
    way (``ragdistill.default_plugins.callbacks``). Raise
    :class:`~ragdistill.errors.MissingDependencyError` from the hook when the tracking
    library is absent: the callback is then listed as unavailable, with your message.
    """


@hookspec
def register_recipe_options(register: RegisterRecipeOptions) -> None:
    """Register the model of a plugin-owned recipe table: ``register(name, Model)``.

    ``Model`` is a pydantic ``BaseModel`` (set ``extra="forbid"`` to catch typos); a
    recipe's ``[plugins.<name>]`` table is validated against it when the recipe is
    parsed, and the validated model is ``recipe.plugins["<name>"]`` at run time (absent
    when the recipe has no such table). A table is part of the recipe fingerprint unless
    ``Model`` sets ``in_fingerprint: ClassVar[bool] = False`` (options that only observe,
    such as a tracker's project name): changing a fingerprinted table refuses to resume.
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
