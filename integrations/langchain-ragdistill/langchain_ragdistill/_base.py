"""What every LangChain adapter shares: a component field, loading by ``model=``, metadata."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field, model_validator

from ragdistill import adapters
from ragdistill.contracts import Stage

if TYPE_CHECKING:
    from ragdistill.runtime import RuntimeBackend


class ComponentFields(BaseModel):
    """Mixin fields: pass ``component=`` (built by hand) or ``model=`` (loaded for you)."""

    component: Any = Field(default=None, exclude=True, repr=False)
    """The ragdistill component doing the work."""
    model: str | None = None
    """Artifact directory, model folder or model name the component was loaded from."""
    load_options: dict[str, Any] = Field(default_factory=dict)
    """Options for the component's loader (``device``, ``batch_size``...) when ``model=`` is used."""
    runtime: Any = Field(default=None, exclude=True, repr=False)
    """The runtime that loads ``model=``: a registered runtime's name or a
    :class:`~ragdistill.runtime.RuntimeBackend`; by default the torch runtime on the CPU."""

    stage: ClassVar[Stage]

    @model_validator(mode="before")
    @classmethod
    def _load_component(cls, values: Any) -> Any:
        return adapters.load_from_values(values, cls.stage)

    @classmethod
    def from_pretrained(
        cls,
        source: str | os.PathLike[str],
        *,
        load_options: dict[str, Any] | None = None,
        runtime: str | RuntimeBackend | None = None,
        runtime_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Load an artifact directory, model folder or model name ragdistill resolves.

        ``runtime`` runs it: a registered runtime's name (built from ``runtime_options``,
        validated) or a :class:`~ragdistill.runtime.RuntimeBackend`; by default the torch
        runtime on the CPU. ``load_options`` go to the component's loader.
        """
        options = dict(load_options or {})
        component = adapters.load(
            source, cls.stage, runtime=runtime, runtime_options=runtime_options, **options
        )
        return cls(
            component=component,
            model=os.fspath(source),
            load_options=options,
            runtime=runtime,
            **kwargs,
        )

    @classmethod
    def from_artifact(
        cls,
        source: str | os.PathLike[str],
        *,
        load_options: dict[str, Any] | None = None,
        runtime: str | RuntimeBackend | None = None,
        runtime_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Alias of :meth:`from_pretrained` (a plain ``from_artifact = from_pretrained``
        reads as an untyped field to pydantic's mypy plugin)."""
        return cls.from_pretrained(
            source,
            load_options=load_options,
            runtime=runtime,
            runtime_options=runtime_options,
            **kwargs,
        )

    @property
    def manifest(self) -> dict[str, Any] | None:
        """The artifact's manifest (teacher, student, metrics...), None if built by hand."""
        return adapters.manifest_of(self.component)

    def describe(self) -> dict[str, Any]:
        return adapters.describe(self.component)
