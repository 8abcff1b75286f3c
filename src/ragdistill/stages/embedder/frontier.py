"""The quality-speed frontier of a retrieval comparison, and whether distillation paid.

Quality is the main retrieval metric (nDCG@10); speed is query-encode throughput over
the teacher's, both from the same run. A distilled arm *pays* when it beats every
reference arm (a model the user could download instead) that is about as fast or
faster: the paired CI of the difference lies above 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ragdistill.ab.headline import kept_of_teacher
from ragdistill.evaluation.frontier import pareto_frontier
from ragdistill.stages.embedder.ab_result import ABResult

#: A reference counts as "about as fast" at this share of the arm's speed or more.
SIMILAR_SPEED = 0.8
#: Roles that are distilled students.
DISTILLED = ("student", "candidate")


@dataclass
class FrontierRow:
    name: str
    role: str
    quality: float
    low: float
    high: float
    #: Share of the teacher's quality, with the paired CI (NaN where there is none).
    kept: float = math.nan
    kept_low: float = math.nan
    kept_high: float = math.nan
    #: Query-encode throughput over the teacher's.
    speedup: float = math.nan
    on_frontier: bool = False
    #: reference name -> (difference, low, high) for the references about as fast or faster.
    against: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    #: With none that fast: the fastest reference, its speedup and (difference, low, high).
    #: Context, not the bar: an arm faster than every reference still only *pays* against
    #: one of its own speed.
    fastest_slower: tuple[str, float, tuple[float, float, float]] | None = None

    @property
    def pays(self) -> bool | None:
        """Beats every reference about as fast or faster (None: no such reference)."""
        if self.role not in DISTILLED or not self.against:
            return None
        return all(low > 0 for _, low, _ in self.against.values())


def frontier_rows(result: ABResult, metric: str) -> list[FrontierRow]:
    """One row per arm, fastest first, with its frontier membership and, for distilled
    arms, the comparison with each reference at similar or higher speed."""
    teacher = result.arms.get("teacher")
    rows: dict[str, FrontierRow] = {}
    for name, arm in result.arms.items():
        low, high = arm.metric_ci.get(metric, [math.nan, math.nan])
        speed = arm.query_speedup(teacher)
        row = FrontierRow(name, arm.role, arm.metrics.get(metric, math.nan), low, high,
                          speedup=math.nan if speed is None else speed)  # fmt: skip
        if teacher is not None and name != "teacher":
            kept = _kept(result, metric, name, teacher.metrics.get(metric, math.nan))
            if kept is not None:
                row.kept, row.kept_low, row.kept_high = kept.share, kept.low, kept.high
        elif name == "teacher":
            row.kept = 1.0
        rows[name] = row
    frontier = set(pareto_frontier({n: (r.quality, r.speedup) for n, r in rows.items()}))
    references = [r for r in rows.values() if r.role == "reference"]
    for row in rows.values():
        row.on_frontier = row.name in frontier
        if row.role not in DISTILLED:
            continue
        compared = [(ref, c) for ref in references
                    if (c := _difference(result, metric, row.name, ref.name)) is not None]  # fmt: skip
        row.against = {ref.name: c for ref, c in compared
                       if ref.speedup >= SIMILAR_SPEED * row.speedup}  # fmt: skip
        if compared and not row.against:
            ref, c = max(compared, key=lambda found: found[0].speedup)
            row.fastest_slower = (ref.name, ref.speedup, c)
    return sorted(rows.values(), key=lambda r: -r.speedup if math.isfinite(r.speedup) else 0)


def _difference(
    result: ABResult, metric: str, arm: str, reference: str
) -> tuple[float, float, float] | None:
    try:
        c = result.comparison(metric, arm, reference)
    except KeyError:
        return None
    return (c.diff, c.low, c.high)


def _kept(result: ABResult, metric: str, name: str, teacher_mean: float) -> Any:
    try:
        return kept_of_teacher(result.comparison(metric, name, "teacher"), teacher_mean)
    except KeyError:
        return None


def verdict(row: FrontierRow) -> str:
    """What the last column of a frontier table says about a row."""
    if row.role not in DISTILLED:
        return ""
    if not row.against:
        if row.fastest_slower is None:
            return "no reference this fast"
        ref, speed, c = row.fastest_slower
        return f"no reference this fast; the fastest, at {speed:.1f}x: {_said(ref, c)}"
    return "; ".join(_said(ref, c) for ref, c in row.against.items())


def _said(ref: str, c: tuple[float, float, float]) -> str:
    diff, low, high = c
    word = "beats" if low > 0 else "loses to" if high < 0 else "ties"
    return f"{word} {ref} ({diff:+.3f} [{low:+.3f}, {high:+.3f}])"
