"""What every LlamaIndex adapter shares: loading from an artifact, the component, metadata."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import Self

from ragdistill import adapters
from ragdistill.contracts import Stage

if TYPE_CHECKING:
    from ragdistill.runtime import RuntimeBackend


class ArtifactLoading:
    """Mixin for an adapter built as ``Adapter(component, **fields)``.

    ``_stage`` is the stage the component must serve; ``_name_field`` the pydantic field
    that records where it came from (LlamaIndex names it differently per base class).
    The adapter keeps the component in a ``_component`` private attribute.
    """

    _stage: ClassVar[Stage]
    _name_field: ClassVar[str]

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

        ``runtime`` runs it: a registered runtime's name (built from ``runtime_options``,
        validated) or a :class:`~ragdistill.runtime.RuntimeBackend`; by default the torch
        runtime on the CPU. ``load_options`` go to the component's loader.
        """
        component = adapters.load(
            source,
            cls._stage,
            runtime=runtime,
            runtime_options=runtime_options,
            **(load_options or {}),
        )
        kwargs.setdefault(cls._name_field, adapters.model_name(component, source))
        return cls(component, **kwargs)  # type: ignore[call-arg]

    from_pretrained = from_artifact

    @property
    def component(self) -> Any:
        return self._component  # type: ignore[attr-defined]

    @property
    def manifest(self) -> dict[str, Any] | None:
        """The artifact's manifest (teacher, student, metrics...), None if built by hand."""
        return adapters.manifest_of(self.component)

    def describe(self) -> dict[str, Any]:
        return adapters.describe(self.component)
