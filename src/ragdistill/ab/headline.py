"""The sentences an A/B report opens with: what each arm keeps of the teacher, how fast.

One sentence per arm compared with the teacher, e.g. "The student keeps 96.8% of the
teacher's nDCG@10 (95% CI 94.1–99.0%) at 10.0x its query speed." Every stage builds
its sentences here from figures its result already holds, so the reports read alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ragdistill.ab.html import escape
from ragdistill.ab.result import Comparison

#: How a sentence names the usual arms; any other arm is "The <name> arm".
ARM_SUBJECTS = {"student": "The student", "baseline": "The student before distillation"}
#: The usual metric names as a reader writes them.
METRIC_LABELS = {"ndcg": "nDCG", "mrr": "MRR", "recall": "Recall", "f1": "F1", "em": "EM"}
#: How to read a share of the teacher's mean and its CI (:func:`kept_of_teacher`).
KEPT_NOTE = (
    "Share kept: the arm's mean over the teacher's, on the same {items}; its CI is the "
    "paired bootstrap CI of their difference, as a share of the teacher's mean."
)


@dataclass(frozen=True)
class Kept:
    """What an arm keeps of the teacher's figure, as fractions (0.968 = 96.8%), with the
    ``confidence`` interval ``[low, high]`` (NaN bounds: no interval)."""

    share: float
    low: float
    high: float
    confidence: float = 0.95


def kept_of_teacher(comparison: Comparison, teacher_mean: float) -> Kept | None:
    """``arm mean / teacher mean`` from the paired ``arm - teacher`` comparison.

    The interval is the comparison's (the paired bootstrap CI of the mean difference)
    on the same scale, ``1 + diff / teacher mean``: it excludes 100% exactly when the
    difference is significant. None when the teacher's mean is 0 or not finite (no
    share to speak of).
    """
    if not _finite(teacher_mean) or teacher_mean == 0 or not _finite(comparison.diff):
        return None
    return Kept(
        1 + comparison.diff / teacher_mean,
        1 + comparison.low / teacher_mean,
        1 + comparison.high / teacher_mean,
        comparison.confidence,
    )


def speed_ratio(teacher: Any, arm: Any) -> float | None:
    """How many times faster ``arm`` is: the teacher's time over the arm's (None if either
    is missing, not finite or not positive)."""
    if not (_finite(teacher) and _finite(arm)) or teacher <= 0 or arm <= 0:
        return None
    return float(teacher) / float(arm)


def metric_label(metric: str) -> str:
    """``ndcg@10`` -> ``nDCG@10``, ``f1`` -> ``F1``; other names unchanged."""
    name, at, cut = metric.partition("@")
    return METRIC_LABELS.get(name, name) + at + cut


def kept_sentence(
    arm: str,
    what: str,
    kept: Kept | None,
    speedup: float | None = None,
    *,
    speed: str = "query speed",
    reason: str = "",
) -> str:
    """One headline sentence: ``arm`` keeps ``kept`` of the teacher's ``what`` at
    ``speedup`` times the teacher's ``speed``; a clause is left out when its figure is.

    Without a share the sentence gives the speed and ``reason`` (default: no share of
    the teacher's ``what`` to report).
    """
    subject = ARM_SUBJECTS.get(arm, f"The {arm} arm")
    fast = ""
    if speedup is not None and _finite(speedup):
        fast = f"{speedup:.{1 if speedup >= 1 else 2}f}x"
    if kept is None or not _finite(kept.share):
        reason = reason or f"no share of the teacher's {what} to report"
        if fast:
            return f"{subject} runs at {fast} the teacher's {speed}; {reason}."
        return f"{subject}: {reason}."
    text = f"{subject} keeps {_pct(kept.share)} of the teacher's {what}"
    if _finite(kept.low) and _finite(kept.high):
        text += f" ({kept.confidence:.0%} CI {_range(kept.low, kept.high)})"
    return text + (f" at {fast} its {speed}." if fast else ".")


def headline_html(sentences: list[str], *, note: str = "") -> str:
    """The sentences in the box that opens a report, ``note`` (how to read them) below;
    nothing when there is no sentence."""
    if not sentences:
        return ""
    lines = "".join(f"<p>{escape(s)}</p>" for s in sentences)
    if note:
        lines += f"<p class=muted>{escape(note)}</p>"
    return f"<div class=lead>{lines}</div>"


def ordered(names: list[str]) -> list[str]:
    """Arms in the order a headline gives them: the student, the baseline, then the rest."""
    first = [n for n in ("student", "baseline") if n in names]
    return first + [n for n in names if n not in first]


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _range(low: float, high: float) -> str:
    if low < 0 or high < 0:
        return f"{_pct(low)} to {_pct(high)}"
    return f"{100 * low:.1f}–{_pct(high)}"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
