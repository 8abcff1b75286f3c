"""What a reranker A/B measured, as plain data that round-trips through JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragdistill.ab.result import Comparison, ResultFile

FIRST_STAGE = "first_stage"


@dataclass
class RerankArm:
    """One arm: a reranker, or the first stage's own order. Lists align with query ids."""

    name: str
    component: dict[str, Any]
    model: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    #: Bootstrap CI of each metric's mean: ``{metric: [low, high]}``.
    metric_ci: dict[str, list[float]] = field(default_factory=dict)
    per_query: dict[str, list[float]] = field(default_factory=dict)
    #: Agreement with the teacher: ``{"kendall_tau"|"overlap@10": {"mean", "low", "high"}}``.
    agreement: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Per candidate-list size: ``{"20": {"p50_ms", "p95_ms", "mean_ms", "n", "candidates"}}``.
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    parameters: int | None = None
    model_size_bytes: int | None = None
    #: Seconds spent before timing (e.g. storing ColBERT document vectors), if any.
    prepare_seconds: float | None = None
    #: The arm's quality scores were read from its score cache (``quality_scorers``),
    #: not computed by its model in this run; latency always times the model itself.
    outputs_cached: bool = False


@dataclass
class RerankABResult(ResultFile):
    dataset: dict[str, Any]
    settings: dict[str, Any]
    query_ids: list[str]
    arms: dict[str, RerankArm]
    comparisons: list[Comparison] = field(default_factory=list)
    created: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RerankABResult:
        return cls(
            dataset=data["dataset"],
            settings=data["settings"],
            query_ids=list(data["query_ids"]),
            arms={k: RerankArm(**v) for k, v in data["arms"].items()},
            comparisons=[Comparison(**c) for c in data.get("comparisons", [])],
            created=data.get("created", ""),
        )

    def speedup(self, size: int | str, arm: str = "student") -> float | None:
        """Teacher's p50 scoring latency over ``arm``'s at ``size`` candidates."""
        t = self.arms["teacher"].latency.get(str(size), {}).get("p50_ms")
        s = self.arms[arm].latency.get(str(size), {}).get("p50_ms") if arm in self.arms else None
        return t / s if t and s else None

    def summary(self) -> str:
        """A plain-text table for the terminal."""
        names = list(self.arms)
        metrics = list(self.arms["teacher"].metrics)
        lines = [
            f"dataset {self.dataset.get('name')}: {len(self.query_ids)} queries, "
            f"{self.settings.get('k')} candidates each"
        ]
        lines.append(f"{'':16}" + "".join(f"{n:>14}" for n in names))
        for m in metrics:
            row = [self.arms[n].metrics.get(m, float("nan")) for n in names]
            lines.append(f"{m:16}" + "".join(f"{v:>14.4f}" for v in row))
        for m in ("kendall_tau", "overlap@10"):
            row = [self.arms[n].agreement.get(m, {}).get("mean", float("nan")) for n in names]
            lines.append(f"{m:16}" + "".join(f"{v:>14.3f}" for v in row))
        for size in self.settings.get("latency_candidates", []):
            row = [
                self.arms[n].latency.get(str(size), {}).get("p50_ms", float("nan")) for n in names
            ]
            lines.append(f"{f'p50 ms @{size}':16}" + "".join(f"{v:>14.2f}" for v in row))
        for c in self.comparisons:
            mark = " *" if c.significant else ""
            lines.append(
                f"{c.arm} - {c.reference} {c.metric}: {c.diff:+.4f} "
                f"[{c.low:+.4f}, {c.high:+.4f}]{mark}"
            )
        return "\n".join(lines)
