"""What every LangChain adapter shares: its component, the description the component is
built from (so that a copy, a pickle or a LangChain payload rebuilds it), its
constructors and its metadata."""

from __future__ import annotations

import copy
import os
import pickle
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field, PrivateAttr, model_validator
from typing_extensions import Self

from langchain_ragdistill import _hints
from ragdistill import adapters
from ragdistill.contracts import CONTRACTS, Component, Stage
from ragdistill.errors import ConfigError, UnknownNameError

if TYPE_CHECKING:
    from ragdistill.runtime import RuntimeBackend

#: The fields that say what the component is; every other field configures the adapter.
SOURCE_FIELDS = frozenset(
    {"component", "model", "teacher", "load_options", "runtime", "runtime_options"}
)
_REBUILD = threading.RLock()


class ComponentFields(BaseModel):
    """Mixin fields: the component, given (``component=``) or described (``model=`` an
    artifact, or ``teacher=`` a registered kind), and the constructors
    :meth:`from_artifact` and :meth:`from_teacher`.

    A described component is rebuilt from its description by ``copy.deepcopy`` and
    ``pickle`` (on first use, in the copy) and by LangChain's ``load``; a component built
    in code is copied or pickled as it is, when it can be.
    """

    component: Any = Field(default=None, exclude=True, repr=False)
    """The ragdistill component doing the work."""
    model: str | None = None
    """Where it was loaded from (artifact directory, model folder or model name); the
    teacher's ``model`` option for ``teacher=``; a display name for ``component=``."""
    teacher: str | None = None
    """The registered teacher kind it was built as (``from_teacher``); None otherwise."""
    load_options: dict[str, Any] = Field(default_factory=dict)
    """Options of the component: its loader's for ``model=`` (``device``, ``batch_size``...),
    the teacher's constructor options other than ``model`` for ``teacher=``."""
    runtime: Any = Field(default=None, exclude=True, repr=False)
    """The runtime that loads ``model=``: a registered runtime's name or a
    :class:`~ragdistill.runtime.RuntimeBackend`; by default the torch runtime on the CPU."""
    runtime_options: dict[str, Any] = Field(default_factory=dict)
    """Options that build a ``runtime`` given by name."""

    stage: ClassVar[Stage]
    _described: bool = PrivateAttr(default=False)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_") and "stage" in dir(cls):
            _hints.ADAPTERS.setdefault(cls.stage, cls)
            _hints.CLASSES[cls.__name__] = cls

    @model_validator(mode="wrap")
    @classmethod
    def _load_component(cls, values: Any, handler: Any) -> Any:
        if not isinstance(values, dict):
            return handler(values)
        given = values.get("component") is not None
        adapter = handler(with_component(cls, values))
        adapter._described = not given
        return adapter

    @classmethod
    def from_artifact(
        cls,
        source: str | os.PathLike[str],
        *,
        load_options: Mapping[str, Any] | None = None,
        runtime: str | RuntimeBackend | None = None,
        runtime_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Self:
        """Load an artifact directory ragdistill wrote, a plain model folder, or a model
        name ragdistill provisions (``ragdistill models list --available``).

        ``load_options`` go to the component's loader (``device``, ``batch_size``...);
        ``runtime`` runs it: a registered runtime's name (built from ``runtime_options``)
        or a :class:`~ragdistill.runtime.RuntimeBackend`; by default torch on the CPU.
        Other keywords are this adapter's fields. A folder of another stage is refused
        with the constructor that fits it.
        """
        options, runtimes = dict(load_options or {}), dict(runtime_options or {})
        component = load_artifact(cls, source, options, runtime, runtimes)
        adapter = cls(component=component, model=os.fspath(source), load_options=options,
                      runtime=runtime, runtime_options=runtimes, **kwargs)  # fmt: skip
        adapter._described = True
        return adapter

    @classmethod
    def from_pretrained(
        cls,
        source: str | os.PathLike[str],
        *,
        load_options: Mapping[str, Any] | None = None,
        runtime: str | RuntimeBackend | None = None,
        runtime_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Self:
        """The same as :meth:`from_artifact`."""
        return cls.from_artifact(source, load_options=load_options, runtime=runtime,
                                 runtime_options=runtime_options, **kwargs)  # fmt: skip

    @classmethod
    def from_teacher(
        cls, kind: str, *, load_options: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Self:
        """Build the teacher registered as ``kind`` for this adapter's stage
        (``ragdistill plugins`` lists them), e.g. a reranker on an embedder's model::

            RagdistillRerank.from_teacher("bi-encoder", model="all-mpnet-base-v2", top_n=3)

        Keywords that are fields of this adapter (``top_n`` above; see the class) configure
        the adapter; every other keyword, ``model`` included, and ``load_options`` are the
        teacher's constructor options, checked against it (a misspelt one is refused with
        the valid ones). Nothing is downloaded or loaded until the first call.
        """
        own = {k: v for k, v in kwargs.items() if k in cls.model_fields and k not in SOURCE_FIELDS}
        options = {**(load_options or {}), **{k: v for k, v in kwargs.items() if k not in own}}
        model = options.pop("model", None)
        model = os.fspath(model) if isinstance(model, os.PathLike) else model
        component = build_teacher(cls, kind, model, options)
        adapter = cls(component=component, teacher=kind, model=model, load_options=options, **own)
        adapter._described = True
        return adapter

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # Leave out the source fields that are unset (teacher, runtime_options...).
        for key, value in super().__repr_args__():
            if not (key in SOURCE_FIELDS and value in (None, {})):
                yield key, value

    @property
    def manifest(self) -> dict[str, Any] | None:
        """The artifact's manifest (teacher, student, metrics...), None if not an artifact."""
        return adapters.manifest_of(self.component)

    def describe(self) -> dict[str, Any]:
        return adapters.describe(self.component)

    # -- copies: a described component is rebuilt, on first use, from its description --

    if not TYPE_CHECKING:  # typed as a plain field; mypy must not see a catch-all __getattr__

        def __getattr__(self, name: str) -> Any:
            if name == "component":
                try:
                    private = object.__getattribute__(self, "__pydantic_private__")
                except AttributeError:
                    private = None
                if private and private.get("_described"):
                    return self._rebuild()
            return super().__getattr__(name)

    def _rebuild(self) -> Any:
        with _REBUILD:
            if "component" not in self.__dict__:
                values = {k: getattr(self, k) for k in SOURCE_FIELDS - {"component"}}
                self.__dict__["component"] = with_component(type(self), values)["component"]
        return self.__dict__["component"]

    def __getstate__(self) -> dict[Any, Any]:
        state: dict[Any, Any] = super().__getstate__()
        if self._described:
            state["__dict__"] = {k: v for k, v in state["__dict__"].items() if k != "component"}
        elif "component" in self.__dict__:
            try:
                pickle.dumps(self.component)
            except (TypeError, AttributeError, pickle.PicklingError) as exc:
                raise TypeError(_hints.not_copyable(self, "pickled", exc)) from None
        return state

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        if not self._described:
            try:
                return super().__deepcopy__(memo)
            except (TypeError, AttributeError, copy.Error) as exc:
                raise TypeError(_hints.not_copyable(self, "copied", exc)) from None
        new = type(self).__new__(type(self))
        new.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return new


def with_component(cls: type[ComponentFields], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with their ``component``: checked when given, else built from the
    description (``teacher=`` a registered kind, or ``model=`` an artifact)."""
    if values.get("component") is not None:
        component = adapters.check(values["component"], cls.stage)
        return {**values, "model": values.get("model") or display_name(component)}
    options = dict(values.get("load_options") or {})
    model = values.get("model")
    if values.get("teacher") is not None:
        component = build_teacher(cls, values["teacher"], model, options)
    elif model is not None:
        runtime_options = dict(values.get("runtime_options") or {})
        component = load_artifact(cls, model, options, values.get("runtime"), runtime_options)
        values = {**values, "model": os.fspath(model)}
    else:
        raise ValueError(
            f"pass component= (a ragdistill {CONTRACTS[cls.stage].__name__}), teacher= (a "
            f"registered {cls.stage} kind, with its model= and load_options=) or model= (an "
            "artifact directory, model folder or model name)"
        )
    return {**values, "component": component}


def display_name(component: Component) -> str:
    """The model a component built in code runs, else the artifact's student or its class."""
    name = getattr(component, "model", None)
    return name if isinstance(name, str) and name else adapters.model_name(component)


def load_artifact(
    cls: type[ComponentFields],
    source: str | os.PathLike[str],
    options: Mapping[str, Any],
    runtime: Any,
    runtime_options: Mapping[str, Any],
) -> Component:
    """``source`` loaded as ``cls``'s stage; a folder of another stage is refused with a
    message that names the constructor that would load it."""
    try:
        return adapters.load(
            source, cls.stage, runtime=runtime, runtime_options=runtime_options or None, **options
        )
    except ConfigError as exc:
        found = _hints.folder_kind(source)
        if found is None or found[0] == cls.stage:
            raise
        raise ConfigError(_hints.wrong_stage(cls, source, found)) from exc


def build_teacher(
    cls: type[ComponentFields], kind: str, model: str | None, options: Mapping[str, Any]
) -> Component:
    """The ``kind`` teacher of ``cls``'s stage, built from its options (checked)."""
    from ragdistill.registry import default_registry

    try:
        teacher = default_registry().teacher(cls.stage, kind)
    except UnknownNameError as exc:
        raise UnknownNameError(_hints.unknown_kind(cls, kind, str(exc))) from None
    table = dict(options) if model is None else {"model": model, **options}
    component = teacher.from_options(table, where=f"{cls.__name__}.from_teacher({kind!r})")
    checked: Component = adapters.check(component, cls.stage, where=f"teacher {kind!r}")
    return checked
