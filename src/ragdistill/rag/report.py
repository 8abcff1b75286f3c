"""The pipeline A/B's HTML report: one self-contained page (inline CSS, PNG data URIs).

Headline first (one sentence per arm against the control), then the arm table, the
paired differences, the ablation (which stage costs the quality, which saves the
time), the plots and answers side by side. Plots need matplotlib; without it the
tables still render. Every model output is escaped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ragdistill.ab.html import CSS, escape, png, size_text, table
from ragdistill.rag.result import LOWER_IS_BETTER, PipelineABResult

EXTRA_CSS = """
.wrap{overflow-x:auto}td{overflow-wrap:anywhere}.headline li{margin:.3rem 0}
.examples td,.examples th{text-align:left;vertical-align:top;max-width:16rem}
"""
NAMES = {"f1": "F1", "em": "EM", "agreement": "agreement", "context_recall": "context recall",
         "ndcg@10": "nDCG@10", "groundedness": "grounded", "feedback": "feedback",
         "latency_ms": "latency ms", "error": "error rate"}  # fmt: skip


def write_report(result: PipelineABResult, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    r = result
    plots = _plots(r)
    title = f"Pipeline A/B: {escape(r.name)} ({escape(r.source)})"
    headline = "".join(f"<li>{escape(r.headline(a.name))}</li>" for a in r.arms if a.name != r.control)  # fmt: skip
    body = [
        f"<h1>{title}</h1>",
        f"<ul class=headline>{headline}</ul>",
        _context(r),
        "<h2>Arms</h2>",
        f"<div class=wrap>{_arms_table(r)}</div>",
        _arms_note(r),
        plots.get("tradeoff", ""),
        "<h2>Per-stage latency (p50 ms)</h2>",
        f"<div class=wrap>{_stage_table(r)}</div>",
        plots.get("stages", ""),
        "<h2>Differences against the control</h2>",
        f"<div class=wrap>{_diff_table(r)}</div>",
    ]
    if r.ablation:
        body += ["<h2>Ablation: one stage swapped at a time</h2>",
                 "<p class=muted>Each row is the control with one stage taken from the "
                 f"treatment ({escape(r.treatment)}): what that stage alone costs in quality "
                 "and saves in time.</p>",
                 f"<div class=wrap>{_ablation_table(r)}</div>"]  # fmt: skip
    body += ["<h2>Components</h2>", f"<div class=wrap>{_components_table(r)}</div>"]
    if r.examples:
        body += [f"<h2>{len(r.examples)} answers side by side</h2>",
                 f"<div class='wrap examples'>{_examples_table(r)}</div>"]  # fmt: skip
    if "missing" in plots:
        body.insert(2, plots["missing"])
    page = ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<title>{title}</title><style>{CSS}{EXTRA_CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>")  # fmt: skip
    path.write_text(page, encoding="utf-8")
    return path


def _arms_note(r: PipelineABResult) -> str:
    if r.source == "online":
        return ("<p class=muted>Latency: the wait each live request saw, end to end, under "
                "whatever load the service had; throughput: 1000 / mean ms of one stream. "
                "Feedback: the mean score users recorded for the arm's requests.</p>")  # fmt: skip
    return ("<p class=muted>Latency: one request at a time, end to end (every stage the arm "
            "runs, the vector search included). Throughput: requests per second of one stream "
            "(1000 / mean ms). Peak: resident-memory growth during one request; models: what "
            "loading the arm's components added. Cost per 1,000 queries: the local stages' time "
            f"at {r.hardware_per_hour:g} {escape(r.currency)}/hour plus the API stages' tokens "
            "at their prices.</p>")  # fmt: skip


def _context(r: PipelineABResult) -> str:
    d = r.dataset
    what = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in d.items() if v is not None)
    notes = "".join(f"<li>{escape(n)}</li>" for n in r.notes)
    differs = [f"{a.name}: {', '.join(a.differs) or 'none'}" for a in r.arms if a.name != r.control]
    return (f"<p class=muted>{escape(what)}. Control: {escape(r.control)}. Stages that differ "
            f"from it: {escape('; '.join(differs))}. {_ci_text(r)}</p>"
            + (f"<ul class=muted>{notes}</ul>" if notes else ""))  # fmt: skip


def _ci_text(r: PipelineABResult) -> str:
    if r.source == "online":
        return ("Differences: bootstrap 95% CIs; between arms they compare different requests "
                "(unpaired), except shadow pairs (the same request run by both arms, paired).")  # fmt: skip
    return "Differences: paired bootstrap 95% CIs over the questions both arms answered."


def _f(value: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)  # fmt: skip


def _metrics(r: PipelineABResult) -> list[str]:
    order = ["f1", "em", "agreement", "context_recall", "ndcg@10", "groundedness", "feedback"]
    return [m for m in order if any(not math.isnan(a.quality.get(m, math.nan)) for a in r.arms)]


def _arms_table(r: PipelineABResult) -> str:
    metrics = _metrics(r)
    head = ["arm", "n", *[NAMES[m] for m in metrics], "p50 ms", "p95 ms", "speed", "q/s",
            "errors", "peak", "models", f"cost/1k {r.currency}"]  # fmt: skip
    rows = []
    for a in r.arms:
        speed = r.speedup(a.name)
        rows.append([a.name, a.n, *[_f(a.quality.get(m)) for m in metrics],
                     _f(a.latency_ms["p50"], "{:,.0f}"), _f(a.latency_ms["p95"], "{:,.0f}"),
                     _f(speed, "{:.1f}x"), _f(a.throughput_qps, "{:.2f}"), a.errors,
                     size_text(a.peak_memory_bytes), size_text(a.model_memory_bytes),
                     _f(a.cost_per_1k, "{:.4f}")])  # fmt: skip
    return table(head, rows)


def _stage_table(r: PipelineABResult) -> str:
    stages = list(dict.fromkeys(s for a in r.arms for s in a.stage_ms))
    rows = [[a.name, *[_f(a.stage_ms.get(s), "{:,.1f}") for s in stages]] for a in r.arms]
    return table(["arm", *stages], rows)


def _diff_table(r: PipelineABResult) -> str:
    rows = []
    for c in r.comparisons:
        better = c.diff < 0 if c.metric in LOWER_IS_BETTER else c.diff > 0
        mark = ("better" if better else "worse") if c.significant else "CI spans 0"
        cls = ("good" if better else "bad") if c.significant else "muted"
        rows.append([escape(c.arm), escape(NAMES.get(c.metric, c.metric)), f"{c.diff:+.4f}",
                     f"[{c.low:+.4f}, {c.high:+.4f}]", f"<span class={cls}>{mark}</span>"])  # fmt: skip
    return table(["arm", "metric", "arm - control", "95% CI", ""], rows, raw=True)


def _ablation_table(r: PipelineABResult) -> str:
    metric = r.main_metric()
    control = r.arm(r.control)
    rows = []
    for name in r.ablation:
        arm = r.arm(name)
        cells: list[Any] = [escape(name), escape(", ".join(arm.differs))]
        for m in (metric, "context_recall"):
            try:
                c = r.comparison(m, name, r.control)
                cells.append(f"{c.diff:+.4f} [{c.low:+.4f}, {c.high:+.4f}]")
            except KeyError:
                cells.append("-")
        saved = control.latency_ms["p50"] - arm.latency_ms["p50"]
        stage_saved = sum(control.stage_ms.get(s, 0.0) - arm.stage_ms.get(s, 0.0) for s in arm.differs)  # fmt: skip
        cells += [
            _f(saved, "{:+,.0f}"),
            _f(stage_saved, "{:+,.0f}"),
            _f(r.speedup(name), "{:.2f}x"),
        ]
        rows.append(cells)
    head = ["arm", "stage swapped", f"{NAMES.get(metric, metric)} change (CI)",
            "context recall change (CI)", "p50 ms saved", "stage p50 ms saved", "speed"]  # fmt: skip
    return table(head, rows, raw=True)


def _components_table(r: PipelineABResult) -> str:
    stages = list(dict.fromkeys(s for a in r.arms for s in a.components))

    def cell(info: dict[str, Any] | None) -> str:
        if not info:
            return "(skipped)"
        stored = " (document vectors stored ahead)" if info.get("stores_documents") else ""
        return f"{info.get('source', '?')}{stored}"

    rows = [[a.name, *[cell(a.components.get(s)) for s in stages]] for a in r.arms]
    return table(["arm", *stages], rows)


def _examples_table(r: PipelineABResult) -> str:
    names = [a.name for a in r.arms]
    rows = []
    for ex in r.examples:
        cells = [escape(ex["question"]) + "<br><span class=muted>gold: "
                 + escape(" | ".join(ex.get("gold") or ["-"])) + "</span>"]  # fmt: skip
        for n in names:
            got = ex["arms"].get(n)
            cells.append("-" if got is None else f"{escape(got['answer'])}<br><span class=muted>"
                         f"{escape(', '.join(got['contexts']))} · {got['ms']:,.0f} ms</span>")  # fmt: skip
        rows.append(cells)
    return table(["question", *names], rows, raw=True)


def _plots(r: PipelineABResult) -> dict[str, str]:
    try:
        import matplotlib
    except ImportError:
        return {"missing": "<p class=muted>Plots left out: matplotlib is not installed "
                "(pip install 'ragdistill[report]').</p>"}  # fmt: skip
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return {"tradeoff": _img("Quality against end-to-end p50 latency, one point per arm",
                             _tradeoff_png(r, plt)),
            "stages": _img("Where each arm spends its time: p50 ms per stage", _stages_png(r, plt))}  # fmt: skip


def _img(caption: str, image: str) -> str:
    return (f"<figure><img alt='{escape(caption)}' src='data:image/png;base64,{image}'>"
            f"<figcaption class=muted>{escape(caption)}</figcaption></figure>")  # fmt: skip


def _tradeoff_png(r: PipelineABResult, plt: Any) -> str:
    metric = r.main_metric()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for a in r.arms:
        x, y = a.latency_ms["p50"], a.quality.get(metric, math.nan)
        if math.isnan(x) or math.isnan(y):
            continue
        color = "#4C72B0" if a.name == r.control else ("#DD8452" if a.name == r.treatment else "#8C8C8C")  # fmt: skip
        ax.scatter([x], [y], s=60, color=color, zorder=3)
        ax.annotate(a.name, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("end-to-end p50 latency, ms (log scale)")
    ax.set_ylabel(NAMES.get(metric, metric))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return png(fig, plt)


def _stages_png(r: PipelineABResult, plt: Any) -> str:
    stages = list(dict.fromkeys(s for a in r.arms for s in a.stage_ms))
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.45 * len(r.arms)))
    left = [0.0] * len(r.arms)
    palette = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860"]
    for i, stage in enumerate(stages):
        widths = [a.stage_ms.get(stage, 0.0) for a in r.arms]
        ax.barh(range(len(r.arms)), widths, left=left, label=stage, color=palette[i % len(palette)])
        left = [lo + w for lo, w in zip(left, widths)]
    ax.set_yticks(range(len(r.arms)), [a.name for a in r.arms], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("p50 ms per stage (stacked)")
    ax.legend(fontsize=8, ncol=min(len(stages), 5), loc="lower right")
    fig.tight_layout()
    return png(fig, plt)
