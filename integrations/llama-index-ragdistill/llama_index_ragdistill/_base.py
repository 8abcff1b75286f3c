"""What every LlamaIndex adapter shares: its constructors, the component, copying, pickling.

Three ways to get an adapter, the same for every stage:

- ``Adapter.from_artifact(path_or_name, load_options=..., runtime=..., **fields)``: a
  distilled artifact folder, a plain model folder or a model name ragdistill provisions.
  ``load_options`` go to the component's loader; every other keyword is a field of the
  adapter (``top_n=3``, ``max_new_tokens=128``...).
- ``Adapter.from_teacher(kind, load_options=..., **options)``: a registered teacher kind
  of the adapter's stage (``ragdistill plugins`` lists them), built on the model you name.
  A keyword that is a field of the adapter (``top_n``, ``max_new_tokens``...) sets that
  field; every other keyword (``model``, ``device``, ``batch_size``...) and everything in
  ``load_options`` goes to the kind's constructor: put an option there when the adapter
  has a field of the same name. An option neither takes fails, naming both lists.
- ``Adapter(component, **fields)``: a component built in code.

The first two record a :class:`~llama_index_ragdistill._spec.ComponentSpec` in
``component_spec``, so ``to_dict``/``from_dict``, ``pickle`` and multi-process pipelines
rebuild the component (lazily, on first use). A component built in code has none: such an
adapter pickles only if its component does, and its ``to_dict`` cannot be loaded back.
``copy.deepcopy`` works either way and shares the loaded component.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

from typing_extensions import Self

from llama_index_ragdistill._spec import (
    BUILDS_ON,
    ComponentSlot,
    ComponentSpec,
    a_stage,
    display_name,
    split_options,
    stage_mismatch,
    teacher_class,
)
from ragdistill import adapters
from ragdistill.contracts import Component, Stage
from ragdistill.errors import ConfigError

if TYPE_CHECKING:
    from ragdistill.runtime import RuntimeBackend

SPEC_FIELD = "component_spec"


class ArtifactLoading:
    """Mixin for an adapter built as ``Adapter(component, component_spec=..., **fields)``.

    ``_stage`` is the stage the component must serve; ``_name_field`` the field that
    records where it came from (LlamaIndex names it differently per base class), None for
    an adapter without one. The adapter keeps its component in ``_slot``.
    """

    _stage: ClassVar[Stage]
    _name_field: ClassVar[str | None] = None
    if TYPE_CHECKING:
        _slot: ComponentSlot

    @classmethod
    def _make_slot(cls, component: Component | None, kwargs: dict[str, Any]) -> ComponentSlot:
        """The slot for ``__init__``; ``kwargs[component_spec]`` validated in place."""
        spec = kwargs.get(SPEC_FIELD)
        if isinstance(spec, Mapping):
            spec = kwargs[SPEC_FIELD] = ComponentSpec.model_validate(dict(spec))
        if component is not None:
            _check(cls.__name__, cls._stage, component)
        return ComponentSlot(cls._stage, cls.__name__, component, spec)

    @classmethod
    def _fields(cls) -> set[str]:
        """The adapter's own options, as ``from_teacher`` tells them from the component's
        (``model`` always names the component's model, never the display field)."""
        fields: Mapping[str, Any] = getattr(cls, "model_fields", {})
        return set(fields) - {SPEC_FIELD, "model"}

    @classmethod
    def from_artifact(
        cls,
        source: str | os.PathLike[str],
        *,
        load_options: dict[str, Any] | None = None,
        runtime: str | RuntimeBackend | None = None,
        runtime_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Self:
        """Load an artifact directory, model folder or model name ragdistill resolves.

        ``load_options`` go to the component's loader (``device``, ``batch_size``...);
        ``runtime`` runs it: a registered runtime's name (built from ``runtime_options``,
        validated) or a :class:`~ragdistill.runtime.RuntimeBackend` (then the adapter
        cannot be rebuilt from a description); by default the torch runtime on the CPU.
        Other keywords are fields of the adapter. A folder of another stage is refused
        with the constructor that would use it (``from_teacher(kind, model=...)``).
        """
        try:
            component = adapters.load(
                source,
                cls._stage,
                runtime=runtime,
                runtime_options=runtime_options,
                **(load_options or {}),
            )
        except ConfigError as exc:
            hint = stage_mismatch(cls.__name__, source, cls._stage)
            if hint is None:
                raise
            raise ConfigError(hint) from exc
        spec = ComponentSpec.of_artifact(source, dict(load_options or {}), runtime, runtime_options)
        if cls._name_field:
            kwargs.setdefault(cls._name_field, adapters.model_name(component, source))
        return cls(component, **{SPEC_FIELD: spec}, **kwargs)  # type: ignore[call-arg]

    from_pretrained = from_artifact

    @classmethod
    def from_teacher(
        cls, kind: str, /, *, load_options: Mapping[str, Any] | None = None, **options: Any
    ) -> Self:
        """Build the registered teacher ``kind`` of this adapter's stage.

        A keyword that is a field of this adapter sets the field (``top_n=3``); every other
        keyword (``model=`` a model name or folder, ``device=``, ``batch_size=``...) and
        all of ``load_options`` are ``kind``'s constructor options, validated like a
        recipe's: ``RagdistillRerank.from_teacher("bi-encoder", model="all-mpnet-base-v2",
        top_n=3)``. Nothing loads until first use.
        """
        teacher = teacher_class(cls.__name__, cls._stage, kind)
        built, fields = split_options(
            cls.__name__, kind, teacher, cls._fields(), options, load_options
        )
        component = teacher.from_options(built, where=kind)
        if cls._name_field:
            fields.setdefault(cls._name_field, display_name(component))
        spec = ComponentSpec.of_teacher(kind, built)
        return cls(component, **{SPEC_FIELD: spec}, **fields)  # type: ignore[call-arg]

    @property
    def component(self) -> Any:
        """The wrapped ragdistill component (built from ``component_spec`` on first use)."""
        return self._slot.get()

    @property
    def manifest(self) -> dict[str, Any] | None:
        """The artifact's manifest (teacher, student, metrics...), None if built by hand."""
        return adapters.manifest_of(self.component)

    def describe(self) -> dict[str, Any]:
        return adapters.describe(self.component)


class SpecPickling:
    """For a pydantic adapter: pickle ``component_spec`` and the fields, not the model.

    ``BaseComponent`` drops an attribute that does not pickle, with a warning, and the
    unpickled object then fails; this raises instead, saying how to make it picklable.
    """

    if TYPE_CHECKING:
        _slot: ComponentSlot

    def __getstate__(self) -> dict[str, Any]:
        state = cast(dict[str, Any], super().__getstate__())
        if "_slot" not in (state.get("__pydantic_private__") or {}):
            self._slot.__getstate__()  # raises the error that says what to do
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        slot = (state.get("__pydantic_private__") or {}).get("_slot")
        component = slot.loaded if isinstance(slot, ComponentSlot) else None
        init: Any = type(self).__init__  # the adapter's (component, **fields)
        init(self, component, **state["__dict__"])


def _check(shim: str, stage: Stage, component: Any) -> None:
    """``adapters.check``, naming the constructor to use for another stage's component."""
    try:
        adapters.check(component, stage)
    except TypeError as exc:
        hint = _other_stage(shim, stage, component)
        if hint is None:
            raise
        raise TypeError(f"{exc}; {hint}") from None


def _other_stage(shim: str, stage: Stage, component: Any) -> str | None:
    if not isinstance(component, Component):
        return None
    from ragdistill.registry import default_registry

    registry = default_registry()
    loader = next((e.name for e in registry.entries("teacher") if e.obj is type(component)), "")
    kind = BUILDS_ON.get((loader, stage))
    model = getattr(component, "model", None)
    if kind is None or not isinstance(model, str):
        return None
    return (
        f"{type(component).__name__} is {a_stage(component.stage)}; build "
        f"{a_stage(stage)} on its model with {shim}.from_teacher({kind!r}, model={model!r})"
    )
