"""The query-transformer A/B's result: per-arm retrieval quality, lifts, cost; JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ragdistill.ab.result import Comparison, ResultFile
from ragdistill.evaluation.bootstrap import bootstrap_share, paired_bootstrap
from ragdistill.stages.query_transformer.ab import METRICS, ArmRun
from ragdistill.stages.query_transformer.data import QueryExample

#: The order arms are shown in.
ARM_ORDER = ("raw", "history", "baseline", "student", "teacher", "gold")
#: What each arm is, in a report's words.
ARM_LABELS = {
    "raw": "the query as typed (no transform)",
    "history": "earlier user turns + the query, joined",
    "teacher": "the teacher",
    "student": "the distilled student",
    "baseline": "the student before distillation",
    "gold": "the original stand-alone question (ceiling)",
}


@dataclass
class QueryABResult(ResultFile):
    """``arms[name]``: mean metrics, malformed outputs, speed; ``comparisons``: each arm
    against ``raw`` (its lift) and the student against the teacher; ``shares``: the
    share of the teacher's lift an arm keeps, with its CI, per metric."""

    task: str
    n: int
    num_queries: int
    dataset: dict[str, Any]
    arms: dict[str, dict[str, Any]]
    comparisons: list[Comparison]
    shares: dict[str, dict[str, dict[str, float]]]
    describe: dict[str, Any]
    sample: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: ``per_query[arm][metric]``: each evaluated query's score, in order (for re-analysis).
    per_query: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueryABResult:
        data = dict(data)
        data["comparisons"] = [Comparison(**c) for c in data.get("comparisons", [])]
        return cls(**data)

    def ordered_arms(self) -> list[str]:
        return [a for a in ARM_ORDER if a in self.arms] + sorted(
            a for a in self.arms if a not in ARM_ORDER
        )

    def headline(self, metric: str = "ndcg@10") -> list[str]:
        """One sentence per model arm: its lift over the raw query, share and speed."""
        out = []
        teacher = self.arms.get("teacher", {})
        for name in self.ordered_arms():
            if name in ("raw", "history", "gold"):
                continue
            lift = self._find(metric, name, "raw")
            if lift is None:
                continue
            text = (
                f"{name}: {metric} {self.arms[name]['metrics'][metric]:.3f}, "
                f"{lift.diff:+.3f} over the raw query (95% CI {lift.low:+.3f} to {lift.high:+.3f})"
            )
            share = self.shares.get(name, {}).get(metric)
            if share and name != "teacher" and math.isfinite(share["mean"]):
                text += (
                    f"; keeps {100 * share['mean']:.1f}% of the teacher's lift "
                    f"(CI {100 * share['low']:.0f}% to {100 * share['high']:.0f}%)"
                )
            speed, t_speed = self.arms[name].get("speed") or {}, teacher.get("speed") or {}
            if name != "teacher" and speed.get("p50_ms") and t_speed.get("p50_ms"):
                text += f", at {t_speed['p50_ms'] / speed['p50_ms']:.1f}x the teacher's speed (p50)"
            out.append(text)
        lift = self._find(metric, "teacher", "raw") if "teacher" in self.arms else None
        if lift is not None and not lift.significant:
            out.append(
                f"The teacher's own {metric} lift over the raw query is not significant "
                "(its CI includes 0): on this data the transform itself does not help."
            )
        return out

    def _find(self, metric: str, arm: str, ref: str) -> Comparison | None:
        try:
            return self.comparison(metric, arm, ref)
        except KeyError:
            return None

    def summary(self) -> str:
        """A plain-text table for the terminal."""
        head = f"{'arm':<10}" + "".join(f"{m:>12}" for m in METRICS)
        head += f"{'malformed':>11}{'p50 ms':>9}{'p95 ms':>9}"
        lines = [f"query-transformer A/B ({self.task}, {self.n} queries)", head]
        for name in self.ordered_arms():
            arm = self.arms[name]
            speed = arm.get("speed") or {}
            row = f"{name:<10}" + "".join(f"{arm['metrics'][m]:>12.4f}" for m in METRICS)
            row += f"{arm['malformed']:>11}"
            row += "".join(
                f"{speed[k]:>9.1f}" if speed.get(k) is not None else f"{'-':>9}"
                for k in ("p50_ms", "p95_ms")
            )
            lines.append(row)
        return "\n".join([*lines, "", *self.headline()])


def build_result(
    examples: list[QueryExample],
    runs: dict[str, ArmRun],
    scores: dict[str, dict[str, list[float]]],
    *,
    task: str,
    num_queries: int,
    dataset: dict[str, Any],
    describe: dict[str, Any],
    n_bootstrap: int = 1000,
    seed: int = 0,
    sample_size: int = 25,
    notes: list[str] | None = None,
) -> QueryABResult:
    arms: dict[str, dict[str, Any]] = {}
    for name, run in runs.items():
        arms[name] = {
            "metrics": {m: float(np.mean(scores[name][m])) for m in METRICS},
            "malformed": run.malformed,
            "outputs_cached": run.cached,
            "speed": run.speed,
            "label": ARM_LABELS.get(name, name),
        }
    comparisons: list[Comparison] = []
    shares: dict[str, dict[str, dict[str, float]]] = {}
    pairs = [(a, "raw") for a in runs if a != "raw"]
    if "teacher" in runs:
        pairs += [(a, "teacher") for a in ("student", "baseline") if a in runs]
    if "student" in runs and "baseline" in runs:
        pairs.append(("student", "baseline"))  # what distillation itself added
    for arm, ref in pairs:
        for m in METRICS:
            ci = paired_bootstrap(scores[ref][m], scores[arm][m], n_resamples=n_bootstrap,
                                  seed=seed)  # fmt: skip
            comparisons.append(Comparison(m, arm, ref, ci.mean, ci.low, ci.high, ci.confidence))
    if "teacher" in runs:
        for arm in (a for a in runs if a not in ("raw", "teacher")):
            shares[arm] = {}
            for m in METRICS:
                ci = bootstrap_share(scores["raw"][m], scores["teacher"][m], scores[arm][m],
                                     n_resamples=n_bootstrap, seed=seed)  # fmt: skip
                shares[arm][m] = {"mean": ci.mean, "low": ci.low, "high": ci.high}
    step = max(1, len(examples) // sample_size)
    sample = [
        {
            "query": e.query,
            "history": [[m.role, m.content] for m in e.history],
            "gold": e.gold,
            "outputs": {name: run.outputs[i] for name, run in runs.items()},
            "ndcg@10": {name: scores[name]["ndcg@10"][i] for name in runs},
        }
        for i, e in list(enumerate(examples))[::step][:sample_size]
    ]
    return QueryABResult(task, len(examples), num_queries, dataset, arms, comparisons, shares,
                         describe, sample, list(notes or []), scores)  # fmt: skip
