"""A pipeline A/B's result (offline or from the online log): arms, differences, a summary."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ragdistill.ab.result import Comparison, ResultFile
from ragdistill.rag.metrics import QUALITY, ArmSummary

#: Metrics where lower is better (their differences read the other way round);
#: ``shadow_latency_ms`` is the online A/B's paired latency over shadow pairs.
LOWER_IS_BETTER = frozenset({"latency_ms", "error", "shadow_latency_ms"})


@dataclass
class PipelineABResult(ResultFile):
    """Every arm's summary, each arm's paired differences against the control, the
    ablation arms (the control with one stage swapped) and side-by-side examples."""

    name: str
    source: str  # "offline" or "online"
    control: str
    treatment: str | None
    arms: list[ArmSummary]
    comparisons: list[Comparison]
    ablation: list[str] = field(default_factory=list)
    dataset: dict[str, Any] = field(default_factory=dict)
    currency: str = "USD"
    hardware_per_hour: float = 0.0
    notes: list[str] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineABResult:
        arms = [ArmSummary(**a) for a in data.get("arms", [])]
        comparisons = [Comparison(**c) for c in data.get("comparisons", [])]
        return cls(**{**data, "arms": arms, "comparisons": comparisons})

    def arm(self, name: str) -> ArmSummary:
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise KeyError(f"no arm {name!r}; arms: {', '.join(a.name for a in self.arms)}")

    def speedup(self, name: str) -> float:
        """The control's p50 end-to-end latency over the arm's (>1: the arm is faster)."""
        mine, control = self.arm(name).latency_ms["p50"], self.arm(self.control).latency_ms["p50"]
        return control / mine if mine and not math.isnan(mine) else math.nan

    def main_metric(self) -> str:
        """The first quality metric the control has a value for (F1 where gold answers
        exist, else context recall, nDCG@10, agreement or feedback)."""
        control = self.arm(self.control).quality
        for metric in ("f1", "context_recall", "ndcg@10", "agreement", "feedback"):
            if not math.isnan(control.get(metric, math.nan)):
                return metric
        return "f1"

    def headline(self, name: str) -> str:
        """One sentence: how much of the control's main metric the arm keeps, how fast."""
        metric = self.main_metric()
        arm, control = self.arm(name), self.arm(self.control)
        parts = [f"{name}"]
        mine, theirs = arm.quality.get(metric, math.nan), control.quality.get(metric, math.nan)
        label = metric if metric not in QUALITY else metric.replace("_", " ")
        if not math.isnan(mine) and not math.isnan(theirs) and theirs > 0:
            parts.append(f"keeps {100 * mine / theirs:.1f}% of {self.control}'s {label}")
            try:
                c = self.comparison(metric, name, self.control)
                parts.append(f"(difference {c.diff:+.3f}, 95% CI {c.low:+.3f} to {c.high:+.3f})")
            except KeyError:
                pass
        speed = self.speedup(name)
        if not math.isnan(speed):
            parts.append(f"at {speed:.1f}x its end-to-end speed (p50)")
        if arm.cost_per_1k is not None and control.cost_per_1k:
            parts.append(
                f"and {100 * arm.cost_per_1k / control.cost_per_1k:.0f}% of its cost per 1,000 queries"
            )
        return " ".join(parts) + "."

    def summary(self) -> str:
        """A plain-text table for the terminal."""
        metric = self.main_metric()
        name = metric.replace("_", " ")
        head = (
            f"{'arm':28} {name:>14} {'ctx recall':>10} {'p50 ms':>9} {'p95 ms':>9} {'cost/1k':>9}"
        )
        lines = [f"pipeline A/B {self.name} ({self.source}), control = {self.control}", head]
        for a in self.arms:
            cost = "-" if a.cost_per_1k is None else f"{a.cost_per_1k:.4f}"
            third = (
                f"{a.errors:>10d}"
                if self.source == "online"
                else f"{a.quality.get('context_recall', math.nan):>10.3f}"
            )
            lines.append(
                f"{a.name:28} {a.quality.get(metric, math.nan):>14.4f} {third} "
                f"{a.latency_ms['p50']:>9.0f} {a.latency_ms['p95']:>9.0f} {cost:>9}"
            )
        lines += [self.headline(a.name) for a in self.arms if a.name != self.control]
        return "\n".join(lines)
