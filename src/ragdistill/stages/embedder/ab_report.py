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
from ragdistill.ab.plots import forest_png
from ragdistill.errors import require
from ragdistill.stages.embedder.ab_result import ABResult


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
    if result.comparisons:
        body += ["<h2>Quality</h2>", _metrics_table(result), _diff_table(result)]
    else:
        body.append("<p class=muted>No relevance judgements: quality metrics not computed.</p>")
    if result.agreement:
        body += ["<h2>Agreement with the teacher</h2>", _agreement_table(result)]
    body += ["<h2>Efficiency</h2>", _efficiency_table(result)]
    if any(arm.outputs_cached for arm in result.arms.values()):
        body.append(cached_note("Its query latency and throughput were measured on the model."))
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
    note = KEPT_NOTE.format(items="queries") + " Query speed: median latency per query "
    note += "(encode and search), the teacher's over the arm's."
    return headline_html(sentences, note=note)


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
        # A cached arm's index came from its cache: index time and memory are the cache's.
        cached = arm.outputs_cached
        rows.append([
            name, lat(arm, "total", "p50_ms"), lat(arm, "total", "p95_ms"),
            lat(arm, "encode", "p50_ms"), lat(arm, "search", "p50_ms"),
            num(arm.throughput_texts_per_s, "{:.1f}"), num(arm.query_throughput_per_s, "{:.1f}"),
            size_text(arm.model_size_bytes), num(arm.parameters, "{:,}"),
            CACHED_MARK if cached else size_text(arm.peak_memory_bytes),
            CACHED_MARK if cached else num(arm.index_seconds, "{:.1f}"),
        ])  # fmt: skip
    head = ["arm", "p50 ms", "p95 ms", "encode p50", "search p50", "passages/s", "queries/s", "model size",
            "parameters", "peak mem +", "index s"]  # fmt: skip
    return table(head, rows)


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
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.boxplot([r.arms[n].latency_ms for n in names], showfliers=True)
    ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylabel("per-query latency, ms (encode + search)")
    fig.tight_layout()
    out.append(("Query latency distribution", png(fig, plt)))
    metric = _main_metric(r)
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


def _main_metric(r: ABResult) -> str | None:
    """nDCG@10 where it was scored, else the first nDCG cutoff, else None (no qrels)."""
    scored = list(r.arms["teacher"].per_query) if "teacher" in r.arms else []
    ndcg = [m for m in scored if m.startswith("ndcg@")]
    return "ndcg@10" if "ndcg@10" in ndcg else (ndcg[0] if ndcg else None)
