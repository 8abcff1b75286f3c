"""What every stage's A/B result shares: paired comparisons and a JSON round trip."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from _typeshed import DataclassInstance
    from typing_extensions import Self


@dataclass
class Comparison:
    """``mean(arm - reference)`` of one metric over the same queries, with its CI."""

    metric: str
    arm: str
    reference: str
    diff: float
    low: float
    high: float
    confidence: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


class ResultFile:
    """JSON round trip and comparison lookup shared by the retrieval and reranking results.

    A subclass is a dataclass with a ``comparisons`` list that defines ``from_dict``.
    """

    comparisons: list[Comparison]

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON data, credentials masked: an arm's ``describe()`` may hold a
        key its component was given in code, and results are shared and published."""
        from ragdistill.credentials import mask_secrets

        # Subclasses are dataclasses; this base is not one.
        masked: dict[str, Any] = mask_secrets(asdict(cast("DataclassInstance", self)))
        return masked

    def to_json(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=True), encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        raise NotImplementedError

    @classmethod
    def from_json(cls, path: Path | str) -> Self:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def comparison(
        self, metric: str, arm: str = "student", reference: str = "teacher"
    ) -> Comparison:
        for c in self.comparisons:
            if (c.metric, c.arm, c.reference) == (metric, arm, reference):
                return c
        raise KeyError(f"no comparison of {metric} for {arm} vs {reference}")
