"""The quality-speed Pareto frontier: the arms no other arm beats on both at once.

Pure arithmetic on (quality, speed) points, so a sweep, an A/B report and a benchmark
script mark the same frontier from the same figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    """One arm: its ``quality`` (higher is better) and ``speed`` (higher is faster)."""

    name: str
    quality: float
    speed: float


def pareto_frontier(points: Mapping[str, tuple[float, float]]) -> list[str]:
    """Names of the points no other point dominates, fastest first.

    ``points`` maps a name to ``(quality, speed)``. A point is dominated when another
    is at least as good on both and strictly better on one. Points with a missing
    (NaN or infinite) figure are never on the frontier; exact ties are all kept.
    """
    valid = [
        Point(name, float(q), float(s))
        for name, (q, s) in points.items()
        if math.isfinite(q) and math.isfinite(s)
    ]
    frontier = [p for p in valid if not any(_dominates(o, p) for o in valid if o is not p)]
    return [p.name for p in sorted(frontier, key=lambda p: (-p.speed, -p.quality))]


def _dominates(a: Point, b: Point) -> bool:
    return (
        a.quality >= b.quality
        and a.speed >= b.speed
        and (a.quality > b.quality or a.speed > b.speed)
    )
