"""What every LlamaIndex adapter shares: loading from an artifact, the component, metadata."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from typing_extensions import Self

from ragdistill import adapters
from ragdistill.contracts import Stage


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
        **kwargs: Any,
    ) -> Self:
        """Load an artifact directory, model folder or model name ragdistill resolves."""
        component = adapters.load(source, cls._stage, **(load_options or {}))
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
