"""A self-contained HTML report of an :class:`ABResult`: inline CSS, plots as data URIs.

The file opens anywhere, offline, and can be attached to an issue or an e-mail: it
loads no script, stylesheet, font or image from anywhere.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ragdistill.ab.headline import (
    KEPT_NOTE,
    headline_html,
    kept_of_teacher,
    kept_sentence,
    metric_label,
    ordered,
    speed_ratio,
)
from ragdistill.ab.html import (
    CACHED_MARK,
    COLORS,
    CSS,
    cached_note,
    escape,
    fit,
    num,
    options_cell,
    png,
    size_text,
    table,
)
from ragdistill.ab.plots import forest_png, frontier_png
from ragdistill.errors import require
from ragdistill.evaluation.frontier import pareto_frontier
from ragdistill.stages.embedder.ab_result import ABResult
from ragdistill.stages.embedder.frontier import SIMILAR_SPEED, frontier_rows, verdict


def write_html_report(result: ABResult, path: Path | str) -> Path:
    """Write the report to ``path`` and return it (needs matplotlib: ``ragdistill[report]``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plots = _plots(result)
    body = [
        f"<h1>Retrieval A/B: {escape(result.dataset.get('name'))}</h1>",
        _headline(result),
        f"<p class=muted>{len(result.query_ids)} queries, {result.dataset.get('documents')} "
        f"documents in {result.dataset.get('passages')} passages; k={result.settings.get('k')}; "
        f"{result.settings.get('confidence', 0.95):.0%} paired bootstrap CIs "
        f"({result.settings.get('n_bootstrap')} resamples, seed {result.settings.get('seed')}); "
        f"created {escape(result.created)}</p>",
        _arms_table(result),
    ]
    metric = _main_metric(result)
    if metric and any(arm.role in ("candidate", "reference") for arm in result.arms.values()):
        body += ["<h2>Quality against speed</h2>", _frontier_table(result, metric)]
    if result.comparisons:
        body += ["<h2>Quality</h2>", _metrics_table(result), _diff_table(result)]
    else:
        body.append("<p class=muted>No relevance judgements: quality metrics not computed.</p>")
    if result.agreement:
        body += ["<h2>Agreement with the teacher</h2>", _agreement_table(result)]
    body += ["<h2>Efficiency</h2>", _efficiency_table(result)]
    if any(arm.outputs_cached for arm in result.arms.values()):
        body.append(
            cached_note("Its query latency, throughput and memory were measured on the model.")
        )
    for title, image in plots:
        body.append(
            f"<h2>{escape(title)}</h2><img alt='{escape(title)}' src='data:image/png;base64,{image}'>"
        )
    page = (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>Retrieval A/B: {escape(result.dataset.get('name'))}</title><style>{CSS}</style>"
        f"</head><body>{''.join(body)}</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path


def _headline(r: ABResult) -> str:
    """One sentence per arm: the share of the teacher's main metric it keeps, its speed."""
    teacher = r.arms.get("teacher")
    if teacher is None:
        return ""
    metric = _main_metric(r)
    sentences = []
    for name in ordered([n for n in r.arms if n != "teacher"]):
        speed = speed_ratio(_p50(teacher), _p50(r.arms[name]))
        if metric is None:
            why = "no relevance judgements, so no quality share"
            sentences.append(kept_sentence(name, "retrieval quality", None, speed, reason=why))
            continue
        try:
            c = r.comparison(metric, name, "teacher")
        except KeyError:
            continue
        kept = kept_of_teacher(c, teacher.metrics.get(metric, math.nan))
        sentences.append(kept_sentence(name, metric_label(metric), kept, speed))
    if metric is not None:
        sentences += _against_references(r, metric)
    note = KEPT_NOTE.format(items="queries") + " Query speed: median latency per query "
    note += "(encode and search), the teacher's over the arm's."
    return headline_html(sentences, note=note)


def _against_references(r: ABResult, metric: str) -> list[str]:
    """Whether the student beat each model the user could have picked instead."""
    out = []
    for name, arm in r.arms.items():
        if arm.role != "reference":
            continue
        try:
            c = r.comparison(metric, "student", name)
        except KeyError:
            continue
        verdict = ("scores higher than" if c.low > 0 else "scores lower than" if c.high < 0
                   else "shows no clear difference from")  # fmt: skip
        speed = speed_ratio(_p50(arm), _p50(r.arms["student"]))
        pace = f", at {speed:.1f}x its query speed" if speed is not None else ""
        out.append(
            f"Against {name} (a model you could use instead), the student {verdict} it: "
            f"{metric_label(metric)} {c.diff:+.4f} ({c.confidence:.0%} CI {c.low:+.4f} to "
            f"{c.high:+.4f}){pace}."
        )
    return out


def _p50(arm: Any) -> Any:
    """Median query latency (encode and search)."""
    return arm.latency.get("total", {}).get("p50_ms")


def _arms_table(r: ABResult) -> str:
    rows = [
        [name, fit(arm.model or "-"), fit(arm.embedder.get("class", "?")),
         options_cell(arm.embedder), arm.fingerprint[:12]]
        for name, arm in r.arms.items()
    ]  # fmt: skip
    return table(["arm", "model", "class", "options", "fingerprint"], rows)


def _frontier_table(r: ABResult, metric: str) -> str:
    def pct(value: float, low: float, high: float) -> str:
        if not math.isfinite(value):
            return "-"
        ci = (
            f" <span class=muted>[{100 * low:.1f}, {100 * high:.1f}]</span>"
            if math.isfinite(low)
            else ""
        )
        return f"{100 * value:.1f}%{ci}"

    # A sweep records how each candidate's training chose its weights: a kept start is
    # the downloaded model, not a distilled one, and "still rising" asks for more steps.
    training = r.settings.get("training") or {}
    rows = []
    for row in frontier_rows(r, metric):
        rows.append([
            escape(row.name), escape(row.role),
            f"{row.quality:.4f} <span class=muted>[{row.low:.3f}, {row.high:.3f}]</span>",
            pct(row.kept, row.kept_low, row.kept_high),
            "-" if not math.isfinite(row.speedup) else f"{row.speedup:.1f}x",
            "&#9679;" if row.on_frontier else "", escape(verdict(row)),
        ] + ([escape(training.get(row.name, ""))] if training else []))  # fmt: skip
    head = ["arm", "role", metric_label(metric), "of the teacher", "query-encode speed",
            "frontier", "against references as fast or faster"]  # fmt: skip
    if training:
        head.append("training")
    note = (f"<p class=muted>Fastest first. Frontier (&#9679;): no other arm is both better "
            f"and faster. A reference counts as as fast when its query-encode speed is at "
            f"least {SIMILAR_SPEED:.0%} of the arm's; each difference is the arm's "
            f"{escape(metric_label(metric))} minus the reference's, with its paired bootstrap "
            f"CI.</p>")  # fmt: skip
    return table(head, rows, raw=True) + note


def _metrics_table(r: ABResult) -> str:
    metrics = list(next(iter(r.arms.values())).metrics)
    rows = []
    for m in metrics:
        row = [escape(m)]
        for arm in r.arms.values():
            low, high = arm.metric_ci.get(m, [math.nan, math.nan])
            row.append(f"{arm.metrics[m]:.4f} <span class=muted>[{low:.3f}, {high:.3f}]</span>")
        rows.append(row)
    return table(["metric", *r.arms], rows, raw=True)


def _diff_table(r: ABResult) -> str:
    rows = []
    for c in r.comparisons:
        cls = ("good" if c.low > 0 else "bad") if c.significant else ""
        verdict = "better" if c.low > 0 else "worse" if c.high < 0 else "no clear difference"
        rows.append([
            f"{escape(c.arm)} &minus; {escape(c.reference)}", escape(c.metric),
            f"<span class='{cls}'>{c.diff:+.4f}</span>", f"[{c.low:+.4f}, {c.high:+.4f}]", verdict,
        ])  # fmt: skip
    return table(["difference", "metric", "mean", "CI", "verdict"], rows, raw=True)


def _agreement_table(r: ABResult) -> str:
    rows = []
    for arm, values in r.agreement.items():
        for metric, v in values.items():
            rows.append([arm, metric, f"{v['mean']:.4f}", f"[{v['low']:.3f}, {v['high']:.3f}]"])
    return table(["arm", "top-k overlap", "mean", "CI"], rows)


def _efficiency_table(r: ABResult) -> str:
    def lat(arm: Any, part: str, key: str) -> str:
        return f"{arm.latency.get(part, {}).get(key, math.nan):.2f}"

    rows = []
    for name, arm in r.arms.items():
        # A cached arm's index came from its cache: its index time is the cache's. Its
        # throughput and memory were measured on the model itself, as every arm's were.
        rows.append([
            name, arm.role, lat(arm, "total", "p50_ms"), lat(arm, "total", "p95_ms"),
            lat(arm, "encode", "p50_ms"), lat(arm, "search", "p50_ms"),
            _rate(arm.throughput_texts_per_s, arm.throughput_rounds),
            _rate(arm.query_throughput_per_s, arm.query_throughput_rounds),
            size_text(arm.model_size_bytes), num(arm.parameters, "{:,}"),
            size_text(arm.weights_bytes), size_text(arm.peak_memory_bytes),
            _index_cell(arm),
        ])  # fmt: skip
    head = ["arm", "role", "p50 ms", "p95 ms", "encode p50", "search p50", "passages/s",
            "queries/s", "model size", "parameters", "weights in memory", "peak mem +",
            "index s"]  # fmt: skip
    rounds = r.settings.get("throughput_rounds") or 1
    note = ("<p class=muted>Passages/s and queries/s: "
            + (f"the median of {rounds} rounds taken over all arms in turn once every arm was "
               "indexed (the range of the rounds in parentheses), each round " if rounds > 1
               else "")
            + _passes(r.settings.get("throughput_repeats", 1)) + ". Weights in "
            "memory: the parameters and buffers the arm holds (or its ONNX graph). Peak mem +: resident memory growth while encoding the "
            "throughput passages (activations), in an untimed pass after freed memory was "
            "handed back to the system.</p>")  # fmt: skip
    return table(head, rows) + note


def _passes(repeats: int) -> str:
    return "one pass" if repeats == 1 else f"the best of {repeats} passes"


def _rate(median: float | None, rounds: list[float]) -> str:
    """A rate and, when it was measured in several rounds, their range."""
    if len(rounds) < 2:
        return num(median, "{:.1f}")
    return f"{num(median, '{:.1f}')} ({min(rounds):.1f}-{max(rounds):.1f})"


def _index_cell(arm: Any) -> str:
    """Index seconds; for an index built through the cache, what it read back and computed."""
    if not arm.outputs_cached:
        return num(arm.index_seconds, "{:.1f}")
    stats = arm.index_stats
    if "cache_reused" not in stats:
        return CACHED_MARK
    return (
        f"{CACHED_MARK} ({stats['cache_reused']:,} read back, {stats['cache_computed']:,} computed)"
    )


def _plots(r: ABResult) -> list[tuple[str, str]]:
    require("matplotlib", extra="report")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    names = list(r.arms)
    if r.comparisons:
        metrics = list(r.arms[names[0]].metrics)
        fig, ax1 = plt.subplots(figsize=(9, 3.8), layout="constrained")
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            arm = r.arms[name]
            xs = [j + i * width for j in range(len(metrics))]
            ys = [arm.metrics[m] for m in metrics]
            err = [[y - arm.metric_ci[m][0] for m, y in zip(metrics, ys)],
                   [arm.metric_ci[m][1] - y for m, y in zip(metrics, ys)]]  # fmt: skip
            ax1.bar(xs, ys, width, yerr=err, capsize=3, label=name, color=COLORS.get(name))
        ticks = [j + width * (len(names) - 1) / 2 for j in range(len(metrics))]
        ax1.set_xticks(ticks, metrics, rotation=30, ha="right")
        ax1.set_ylabel("mean over queries")
        ax1.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        out.append(("Metrics with confidence intervals", png(fig, plt)))
        forest = forest_png(r.comparisons, plt, color=lambda c: COLORS.get(c.arm))
        out.append(("Differences between arms (filled: the CI excludes 0)", forest))
    metric = _main_metric(r)
    if metric and len(names) > 2:
        out.append(
            (f"{metric_label(metric)} against query-encode speed", _speed_plot(r, metric, plt))
        )
    # One row per arm, so names never overlap however many arms a sweep compares.
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.35 * len(names)))
    ax.boxplot([r.arms[n].latency_ms for n in names], showfliers=True, orientation="horizontal")
    ax.set_yticks(range(1, len(names) + 1), names)
    ax.invert_yaxis()
    ax.set_xlabel("per-query latency, ms (encode + search)")
    fig.tight_layout()
    out.append(("Query latency distribution", png(fig, plt)))
    if metric and "student" in r.arms:
        t, s = r.arms["teacher"].per_query[metric], r.arms["student"].per_query[metric]
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(t, s, alpha=0.6, s=14, color=COLORS["student"])
        ax.plot([0, 1], [0, 1], color="#999", lw=1)
        ax.set_xlabel(f"teacher {metric}")
        ax.set_ylabel(f"student {metric}")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        fig.tight_layout()
        out.append((f"Per-query {metric}: teacher vs student", png(fig, plt)))
    return out


def speed_points(r: ABResult, metric: str) -> list[dict[str, Any]]:
    """Each arm's ``metric`` (with its CI) and query-encode speed over the teacher's."""
    teacher = r.arms.get("teacher")
    points = []
    for name, arm in r.arms.items():
        low, high = arm.metric_ci.get(metric, [math.nan, math.nan])
        speed = arm.query_speedup(teacher)
        points.append({"name": name, "role": arm.role, "quality": arm.metrics.get(metric, math.nan),
                       "low": low, "high": high,
                       "speed": math.nan if speed is None else speed})  # fmt: skip
    return points


def _speed_plot(r: ABResult, metric: str, plt: Any) -> str:
    points = speed_points(r, metric)
    frontier = pareto_frontier({p["name"]: (p["quality"], p["speed"]) for p in points})
    return frontier_png(points, frontier, plt, ylabel=metric_label(metric),
                        color=lambda p: COLORS.get(p["name"]))  # fmt: skip


def _main_metric(r: ABResult) -> str | None:
    """nDCG@10 where it was scored, else the first nDCG cutoff, else None (no qrels)."""
    scored = list(r.arms["teacher"].per_query) if "teacher" in r.arms else []
    ndcg = [m for m in scored if m.startswith("ndcg@")]
    return "ndcg@10" if "ndcg@10" in ndcg else (ndcg[0] if ndcg else None)
