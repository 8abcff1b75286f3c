"""A self-contained HTML report of a :class:`RerankABResult` (inline CSS, PNG data URIs)."""

from __future__ import annotations

import math
from pathlib import Path

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
    COLORS,
    CSS,
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
from ragdistill.stages.reranker.ab_result import FIRST_STAGE, RerankABResult

ARM_COLORS = {**COLORS, FIRST_STAGE: "#55A868"}
#: The metric a report's headline gives.
MAIN_METRIC = "ndcg@10"


def write_rerank_report(result: RerankABResult, path: Path | str) -> Path:
    """Write the report to ``path`` and return it (needs matplotlib: ``ragdistill[report]``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    r, s = result, result.settings
    title = f"Reranker A/B: {escape(r.dataset.get('name'))}"
    body = [
        f"<h1>{title}</h1>",
        _headline(r),
        f"<p class=muted>{len(r.query_ids)} judged queries; each arm reorders the same "
        f"{s.get('k')} first-stage candidates per query (first stage: "
        f"{escape(s.get('first_stage', {}).get('model', '?'))}); quality per document (a document "
        f"ranks at its best passage); {s.get('confidence', 0.95):.0%} bootstrap CIs "
        f"({s.get('n_bootstrap')} resamples, seed {s.get('seed')}), paired for differences; "
        f"created {escape(r.created)}</p>",
        _arms_table(r),
        _cached_note(r),
        "<h2>Quality</h2>",
        _metrics_table(r),
        _diff_table(r),
        "<h2>Agreement with the teacher</h2>",
        "<p class=muted>Kendall's tau-b between each arm's and the teacher's scores of the "
        "same candidates, and the share of the teacher's top 10 documents in the arm's.</p>",
        _agreement_table(r),
        "<h2>Scoring latency</h2>",
        f"<p class=muted>Wall time to score one query's candidates, one query per call, over "
        f"{s.get('latency_queries')} queries after {s.get('warmup')} warm-up queries; arms "
        "interleaved query by query (a call under 1 s: the median of 5). An arm that stores document representations (ColBERT) "
        "stored them beforehand ('prepare s'), so only its query is encoded.</p>",
        _latency_table(r),
    ]
    for caption, image in _plots(r):
        body.append(
            f"<h2>{escape(caption)}</h2><img alt='{escape(caption)}' src='data:image/png;base64,{image}'>"
        )
    page = (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{title}</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path


def _headline(r: RerankABResult) -> str:
    """One sentence per arm: the share of the teacher's nDCG@10 it keeps, its speed."""
    if "teacher" not in r.arms:
        return ""
    size = _headline_size(r)
    sentences = []
    for name in ordered([n for n in r.arms if n not in ("teacher", FIRST_STAGE)]):
        try:
            c = r.comparison(MAIN_METRIC, name, "teacher")
        except KeyError:
            continue
        kept = kept_of_teacher(c, r.arms["teacher"].metrics.get(MAIN_METRIC, math.nan))
        speed = speed_ratio(_p50(r, "teacher", size), _p50(r, name, size))
        words = f"speed reranking {size} candidates"
        sentences.append(kept_sentence(name, metric_label(MAIN_METRIC), kept, speed, speed=words))
    note = KEPT_NOTE.format(items="candidate lists")
    if size is not None:
        note += f" Speed: median time to score one query's {size} candidates, the teacher's "
        note += "over the arm's."
    return headline_html(sentences, note=note)


def _headline_size(r: RerankABResult) -> str | None:
    """The candidate-list size the headline's speed is given at: ``k`` when timed, else
    the largest size the teacher was timed at."""
    timed = r.arms["teacher"].latency
    k = str(r.settings.get("k"))
    if k in timed:
        return k
    return max(timed, key=float) if timed else None


def _p50(r: RerankABResult, arm: str, size: str | None) -> float | None:
    return None if size is None else r.arms[arm].latency.get(size, {}).get("p50_ms")


def _arms_table(r: RerankABResult) -> str:
    rows = [
        [name, fit(arm.model or "-"), fit(arm.component.get("class", "?")),
         options_cell(arm.component), num(arm.parameters, "{:,}"),
         size_text(arm.model_size_bytes)]
        for name, arm in r.arms.items()
    ]  # fmt: skip
    return table(["arm", "model", "class", "options", "parameters", "model size"], rows)


def _cached_note(r: RerankABResult) -> str:
    cached = [name for name, arm in r.arms.items() if arm.outputs_cached]
    if not cached:
        return ""
    return (
        f"<p class=muted>Quality scores of {escape(', '.join(cached))} read from the score "
        "cache; their latency, parameters and size were measured on the model itself.</p>"
    )


def _metrics_table(r: RerankABResult) -> str:
    metrics = list(r.arms["teacher"].metrics)
    rows = []
    for m in metrics:
        row = [escape(m)]
        for arm in r.arms.values():
            low, high = arm.metric_ci.get(m, [math.nan, math.nan])
            value = arm.metrics.get(m, math.nan)
            row.append(f"{value:.4f} <span class=muted>[{low:.3f}, {high:.3f}]</span>")
        rows.append(row)
    return table(["metric", *r.arms], rows, raw=True)


def _diff_table(r: RerankABResult) -> str:
    rows = []
    for c in r.comparisons:
        cls = ("good" if c.low > 0 else "bad") if c.significant else ""
        verdict = "better" if c.low > 0 else "worse" if c.high < 0 else "no clear difference"
        ref = r.arms[c.reference].metrics.get(c.metric)
        ratio = f"{(ref + c.diff) / ref:.1%}" if ref else "-"
        rows.append([
            f"{escape(c.arm)} &minus; {escape(c.reference)}", escape(c.metric),
            f"<span class='{cls}'>{c.diff:+.4f}</span>", f"[{c.low:+.4f}, {c.high:+.4f}]",
            ratio, verdict,
        ])  # fmt: skip
    head = ["difference", "metric", "mean", "CI", "arm / reference", "verdict"]
    return table(head, rows, raw=True)


def _agreement_table(r: RerankABResult) -> str:
    rows = []
    for name, arm in r.arms.items():
        for metric, v in arm.agreement.items():
            rows.append([name, metric, f"{v['mean']:.4f}", f"[{v['low']:.3f}, {v['high']:.3f}]"])
    return table(["arm", "agreement", "mean", "CI"], rows)


def _latency_table(r: RerankABResult) -> str:
    rows = []
    for size in r.settings.get("latency_candidates", []):
        for name, arm in r.arms.items():
            stats = arm.latency.get(str(size))
            if not stats:
                continue
            speedup = r.speedup(size, name) if name != "teacher" else None
            rows.append([
                f"{stats.get('candidates', size):.0f}", name, f"{stats['p50_ms']:.1f}",
                f"{stats['p95_ms']:.1f}", f"{stats['mean_ms']:.1f}",
                f"{speedup:.1f}x" if speedup else "-", num(arm.prepare_seconds, "{:.1f}"),
            ])  # fmt: skip
    head = ["candidates", "arm", "p50 ms", "p95 ms", "mean ms", "speedup (p50)", "prepare s"]
    return table(head, rows)


def _plots(r: RerankABResult) -> list[tuple[str, str]]:
    require("matplotlib", extra="report")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    names = list(r.arms)
    metrics = list(r.arms["teacher"].metrics)
    fig, ax1 = plt.subplots(figsize=(8, 3.8), layout="constrained")
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        arm = r.arms[name]
        ys = [arm.metrics.get(m, math.nan) for m in metrics]
        err = [[y - arm.metric_ci[m][0] for m, y in zip(metrics, ys)],
               [arm.metric_ci[m][1] - y for m, y in zip(metrics, ys)]]  # fmt: skip
        xs = [j + i * width for j in range(len(metrics))]
        ax1.bar(xs, ys, width, yerr=err, capsize=3, label=name, color=ARM_COLORS.get(name))
    ax1.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(metrics))], metrics)
    ax1.set_ylabel("mean over queries")
    ax1.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    out.append(("Quality with confidence intervals", png(fig, plt)))
    if r.comparisons:
        forest = forest_png(r.comparisons, plt, color=lambda c: ARM_COLORS.get(c.arm))
        out.append(("Differences between arms (filled: the CI excludes 0)", forest))
    timed = [n for n in names if r.arms[n].latency]
    if timed:
        fig, ax = plt.subplots(figsize=(7, 4))
        for name in timed:
            lat = r.arms[name].latency
            sizes = sorted(lat, key=float)
            ax.plot([lat[s]["candidates"] for s in sizes], [lat[s]["p50_ms"] for s in sizes],
                    "o-", label=name, color=ARM_COLORS.get(name))  # fmt: skip
        ax.set_xlabel("candidates per query")
        ax.set_ylabel("p50 scoring latency per query, ms (log)")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
        fig.tight_layout()
        out.append(("Scoring latency vs number of candidates", png(fig, plt)))
    if "student" in r.arms:
        metric = "ndcg@10"
        t, s = r.arms["teacher"].per_query.get(metric), r.arms["student"].per_query.get(metric)
        if t and s:
            fig, ax = plt.subplots(figsize=(5, 5))
            ax.scatter(t, s, alpha=0.6, s=14, color=ARM_COLORS["student"])
            ax.plot([0, 1], [0, 1], color="#999", lw=1)
            ax.set_xlabel(f"teacher {metric}")
            ax.set_ylabel(f"student {metric}")
            fig.tight_layout()
            out.append((f"Per-query {metric}: teacher vs student", png(fig, plt)))
    return out
