"""Plots every stage's A/B report shares (the caller imports matplotlib and passes ``plt``).

The forest plot: one panel per metric, one row per compared pair, each a point with its
CI. Panels share their rows, so a row's label is written once, on the left, and the
figure grows with the number of rows: labels never overlap, however many arms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from ragdistill.ab.headline import metric_label
from ragdistill.ab.html import png
from ragdistill.ab.result import Comparison

#: Panels per row of a forest plot.
FOREST_COLUMNS = 3


def pair_label(c: Comparison) -> str:
    """``student − teacher``: a row of a forest plot."""
    return f"{c.arm} − {c.reference}".replace("_", " ")


def forest_png(
    comparisons: Sequence[Comparison],
    plt: Any,
    *,
    label: Callable[[Comparison], str] = pair_label,
    color: Callable[[Comparison], str | None] | None = None,
    metric_name: Callable[[str], str] = metric_label,
    xlabel: str = "difference (paired bootstrap CI)",
) -> str:
    """A PNG (base64) of ``comparisons``: a panel per metric, in their order, a row per
    ``label`` (the first on top); a filled point: the CI excludes 0."""
    rows = list(dict.fromkeys(label(c) for c in comparisons))
    metrics = list(dict.fromkeys(c.metric for c in comparisons))
    ncols = max(1, min(FOREST_COLUMNS, len(metrics)))
    nrows = max(1, math.ceil(len(metrics) / ncols))
    panel = 0.85 + 0.34 * len(rows)  # inches: title and axis, then each row
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(10, 0.35 + panel * nrows), sharey=True, squeeze=False,
        layout="constrained",
    )  # fmt: skip
    ys = {row: len(rows) - 1 - i for i, row in enumerate(rows)}
    flat = list(axes.flat)
    for ax, metric in zip(flat, metrics):
        for c in (c for c in comparisons if c.metric == metric):
            if not all(_finite(v) for v in (c.diff, c.low, c.high)):
                continue
            col = (color(c) if color else None) or "#4C72B0"
            ax.errorbar(
                [c.diff], [ys[label(c)]], fmt="o", capsize=3, color=col, markersize=6,
                xerr=[[max(0.0, c.diff - c.low)], [max(0.0, c.high - c.diff)]],
                markerfacecolor=col if c.significant else "white",
            )  # fmt: skip
        ax.axvline(0, color="#999", lw=1, zorder=0)
        ax.set_title(metric_name(metric), fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.grid(axis="x", color="#eee")
    for ax in flat[len(metrics) :]:
        ax.set_visible(False)
    flat[0].set_yticks(list(ys.values()), list(ys), fontsize=9)
    fig.supxlabel(xlabel, fontsize=9)
    return png(fig, plt)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def frontier_png(
    points: Sequence[dict[str, Any]],
    frontier: Sequence[str],
    plt: Any,
    *,
    xlabel: str = "query-encode speed, x the teacher's (log scale)",
    ylabel: str = "nDCG@10",
    color: Callable[[dict[str, Any]], str | None] | None = None,
) -> str:
    """A PNG (base64): each point's quality (with its CI) against its speed, names beside
    them, the frontier joined by a line. ``points`` hold ``name``, ``speed``,
    ``quality``, ``low`` and ``high`` (CI bounds; NaN when none) and ``role``."""
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    markers = {"teacher": "s", "reference": "D", "baseline": "v"}
    for p in points:
        if not (math.isfinite(p["speed"]) and math.isfinite(p["quality"])):
            continue
        err = None
        if math.isfinite(p.get("low", math.nan)) and math.isfinite(p.get("high", math.nan)):
            err = [[p["quality"] - p["low"]], [p["high"] - p["quality"]]]
        ax.errorbar([p["speed"]], [p["quality"]], yerr=err, fmt=markers.get(str(p.get("role")), "o"),
                    capsize=3, color=color(p) if color else None,
                    mfc="white" if p["name"] not in frontier else None)  # fmt: skip
        ax.annotate(p["name"], (p["speed"], p["quality"]), textcoords="offset points",
                    xytext=(5, 4), fontsize=7)  # fmt: skip
    line = sorted((p for p in points if p["name"] in frontier), key=lambda p: p["speed"])
    if len(line) > 1:
        ax.plot([p["speed"] for p in line], [p["quality"] for p in line], color="#999",
                lw=1, ls="--", zorder=0, label="frontier")  # fmt: skip
        ax.legend(fontsize=8, loc="lower left")
    ax.set_xscale("log")
    # Speeds read as "0.5x", "12x", not as powers of ten.
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(
        plt.FuncFormatter(lambda v, _: f"{v:g}x" if f"{v:.0e}"[0] in "25" else "")
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return png(fig, plt)
