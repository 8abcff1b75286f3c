"""A self-contained HTML report of a :class:`QueryABResult` (inline CSS, PNG data URIs).

The page opens with one sentence per model arm (the share of the teacher's lift over the
raw query it keeps, at how many times the teacher's speed), then each arm's lift over the
raw query, one table of every arm, the lifts and latency plots, a sample of each arm's
queries, the notes and the data. Component options stay out of the tables, in a
collapsed section per arm. A cached arm's peak memory is not shown. Plots need matplotlib
(``ragdistill[report]``); without it the report still renders, with a note where the
plots would be. Every query, output and option is escaped.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ragdistill.ab.headline import Kept, headline_html, kept_sentence, ordered, speed_ratio
from ragdistill.ab.html import (
    CACHED_MARK,
    COLORS,
    CSS,
    cached_note,
    escape,
    options_text,
    png,
    size_text,
    table,
)
from ragdistill.ab.plots import forest_png
from ragdistill.ab.result import Comparison
from ragdistill.stages.query_transformer.ab import METRICS
from ragdistill.stages.query_transformer.ab_result import QueryABResult

EXTRA_CSS = """
.headline{background:#f3f7ff;border-left:4px solid #4C72B0;padding:.5rem 1rem .5rem 2rem;
margin:1rem 0}.headline li{margin:.25rem 0}
.warn{background:#fff8e5;border-left:4px solid #d4a72c;padding:.5rem 1rem;margin:1rem 0}
.arms td,.arms th{padding:.3rem .45rem;font-size:.9rem;white-space:nowrap}
.arms th{white-space:normal;vertical-align:bottom}
.arms td:first-child{white-space:normal;min-width:8rem;max-width:13rem}
.ci{display:block;color:#777;font-size:.78rem}
.tag{display:inline-block;font-size:.72rem;color:#555;background:#eee;border-radius:3px;
padding:0 .3rem;margin-left:.3rem}
.sample td,.sample th{text-align:left;vertical-align:top;overflow-wrap:anywhere}
.sample td.ctx{max-width:24rem;background:#fafafa}.sample td.out{max-width:34rem}
.sample td.score{text-align:right;white-space:nowrap}.sample td.arm{white-space:nowrap}
.sample tr.first td{border-top:2px solid #ccc}
.sample .turn{display:block;color:#777;font-size:.85rem}
.sample .query{display:block;font-weight:600}
.sample .gold{display:block;color:#1a7f37;font-size:.85rem}
details{margin:.3rem 0}summary{cursor:pointer}
details dl{margin:.3rem 0 .6rem 1.2rem}details dd{margin:0 0 .3rem 1rem;overflow-wrap:anywhere}
.kv td:last-child{text-align:left;overflow-wrap:anywhere;max-width:50rem}
"""
#: Colours of the arms that have no shared colour in :data:`ragdistill.ab.html.COLORS`.
ARM_COLORS = {**COLORS, "raw": "#333333", "history": "#937860", "gold": "#55A868"}
#: Arms that run no model (no speed, no sentence in the headline).
FIXED_ARMS = ("raw", "history", "gold")
TASK_TEXT = {
    "rewrite": "conversational rewrite: each arm turns a follow-up question and the "
    "conversation before it into one stand-alone search query",
    "expand": "query expansion: each arm writes search queries for the user's query; "
    "their rankings are fused by reciprocal-rank fusion",
    "hyde": "HyDE: each arm writes a hypothetical answer passage, searched in place of the query",
}
METRIC_NAMES = {"recall@10": "Recall@10", "recall@100": "Recall@100", "ndcg@10": "nDCG@10"}
PRIMARY = "ndcg@10"


def write_report(result: QueryABResult, path: Path | str) -> Path:
    """Write the report of ``result`` to ``path`` (its folder created) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    r = result
    name = r.dataset.get("name") or "?"
    title = f"Query-transformer A/B ({escape(r.task)}): {escape(name)}"
    plots = _plots(r)
    body = [
        f"<h1>{title}</h1>",
        _lead(r),
        f"<p class=muted>{escape(TASK_TEXT.get(r.task, r.task))}. {r.n} evaluated queries, "
        f"the same for every arm, each arm's texts searched with one fixed embedder; up to "
        f"{r.num_queries} quer{'y' if r.num_queries == 1 else 'ies'} per model output. "
        f"{_confidence(r):.0%} paired bootstrap CIs over queries.</p>",
        _headline(r),
        plots.get("missing", ""),
        "<h2>Arms</h2>",
        _arms_table(r),
        _arms_note(r),
        _cached_note(r),
        _describe(r),
        "<h2>Lift over the raw query</h2>",
        "<p class=muted>Mean per-query difference from the raw query (the user's query as "
        "typed, no transform), with its CI; a filled dot: the CI excludes 0.</p>",
        plots.get("forest", ""),
        _diff_table(r),
        _shares_table(r),
        "<h2>Quality and latency</h2>",
        plots.get("scatter", "") or "<p class=muted>No arm was timed.</p>",
        f"<h2>Sample of {len(r.sample)} queries</h2>",
        _sample_intro(r),
        f"<div class='sample wide'>{_sample_table(r)}</div>",
        "<h2>Notes</h2>",
        _notes(r),
        "<h2>Data</h2>",
        _dataset_table(r),
    ]
    page = (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{title}</title><style>{CSS}{EXTRA_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path


# --- headline and tables ---------------------------------------------------------------


def _lead(r: QueryABResult) -> str:
    """One sentence per model arm: the share of the teacher's lift it keeps, its speed."""
    if "teacher" not in r.arms:
        return ""
    t_speed = r.arms["teacher"].get("speed") or {}
    sentences = []
    for name in ordered([a for a in r.ordered_arms() if a not in (*FIXED_ARMS, "teacher")]):
        share = r.shares.get(name, {}).get(PRIMARY)
        kept = None
        if share and _finite(share.get("mean")):
            low, high = share.get("low", math.nan), share.get("high", math.nan)
            kept = Kept(share["mean"], low, high, _confidence(r))
        speed = speed_ratio(t_speed.get("p50_ms"), (r.arms[name].get("speed") or {}).get("p50_ms"))
        what = f"lift in {METRIC_NAMES[PRIMARY]} over the raw query"
        sentences.append(
            kept_sentence(name, what, kept, speed, reason=f"the teacher shows no {what}")
        )
    note = (
        "Share of the teacher's lift: the arm's mean lift over the raw query divided by the "
        "teacher's, with its bootstrap CI (queries resampled together). Query speed: median "
        "latency per query, one query per call, the teacher's over the arm's."
    )
    return headline_html(sentences, note=note)


def _headline(r: QueryABResult) -> str:
    sentences = r.headline(PRIMARY)
    arms = tuple(f"{a}: " for a in r.arms)
    per_arm = [s for s in sentences if s.startswith(arms)]
    others = [s for s in sentences if not s.startswith(arms)]
    out = ""
    if per_arm:
        out += "<ul class=headline>" + "".join(f"<li>{escape(s)}</li>" for s in per_arm) + "</ul>"
    else:
        out += "<p class=warn>No model arm was compared with the raw query.</p>"
    out += "".join(f"<p class=warn>{escape(s)}</p>" for s in others)
    return out


def _arms_table(r: QueryABResult) -> str:
    rows = []
    for name in r.ordered_arms():
        arm = r.arms[name]
        metrics, speed = arm.get("metrics", {}), arm.get("speed") or {}
        cached = bool(arm.get("outputs_cached"))
        cell = f"<b>{escape(name)}</b>"
        if cached:
            cell += "<span class=tag title='outputs read from the generation store'>cached</span>"
        cell += f"<span class=ci>{escape(arm.get('label', ''))}</span>"
        malformed = int(arm.get("malformed") or 0)
        bad = f"{malformed} <span class=ci>{malformed / r.n:.1%}</span>" if r.n else str(malformed)
        if cached:
            bad += "<span class=ci>cached outputs</span>"
        p50, p95 = speed.get("p50_ms"), speed.get("p95_ms")
        latency = (
            "-" if p50 is None else f"{p50:.1f}<span class=ci>p95 {_num(p95, '{:.1f}')}</span>"
        )
        rows.append([
            cell, *(_num(metrics.get(m), "{:.4f}") for m in METRICS),
            _lift_cell(_find(r, PRIMARY, name, "raw"), name == "raw"),
            _share_cell(r, name), bad, latency, _num(speed.get("throughput_qps"), "{:.1f}"),
            _memory(arm), _count(speed.get("parameters")), escape(size_text(speed.get("size_bytes"))),
        ])  # fmt: skip
    head = [
        "arm",
        *(METRIC_NAMES[m] for m in METRICS),
        f"lift over raw ({METRIC_NAMES[PRIMARY]})",
        "teacher's lift kept",
        "malformed",
        "latency p50 ms",
        "queries/s",
        "peak memory",
        "parameters",
        "size",
    ]
    return table(head, rows, raw=True).replace("<table>", "<table class=arms>", 1)


def _lift_cell(c: Comparison | None, reference: bool) -> str:
    if reference:
        return "<span class=muted>reference</span>"
    if c is None or not math.isfinite(c.diff):
        return "-"
    cls = ("good" if c.low > 0 else "bad") if c.significant else ""
    return f"<span class='{cls}'>{c.diff:+.4f}</span><span class=ci>[{c.low:+.3f}, {c.high:+.3f}]</span>"  # fmt: skip


def _share_cell(r: QueryABResult, name: str, metric: str = PRIMARY) -> str:
    if name == "teacher":
        return "<span class=muted>100% (reference)</span>"
    share = r.shares.get(name, {}).get(metric)
    if not share or not _finite(share.get("mean")):
        return "-"
    return _share_text(share)


def _share_text(share: dict[str, float]) -> str:
    text = f"{100 * share['mean']:.1f}%"
    if _finite(share.get("low")) and _finite(share.get("high")):
        text += f"<span class=ci>[{100 * share['low']:.0f}%, {100 * share['high']:.0f}%]</span>"
    return text


def _memory(arm: dict[str, Any]) -> str:
    """Peak memory only where the arm's timed calls recorded it, and the arm's outputs
    were not read from its store (then the growth is the cache's, not the model's)."""
    value = (arm.get("speed") or {}).get("peak_memory_bytes")
    if value is None:
        return "-"
    return CACHED_MARK if arm.get("outputs_cached") else escape(size_text(int(value)))


def _cached_note(r: QueryABResult) -> str:
    if not any(_memory(a) == CACHED_MARK for a in r.arms.values()):
        return ""
    return cached_note(
        "Its latency was measured on the model itself.", source="its generation store"
    )


def _arms_note(r: QueryABResult) -> str:
    timed = [s for a in r.arms.values() if (s := a.get("speed"))]
    n = max((int(s.get("n") or 0) for s in timed), default=0)
    text = (
        "Recall and nDCG: means over queries. Lift: mean per-query difference from the raw "
        "query, CI below. Teacher's lift kept: the arm's lift over the raw query divided by "
        "the teacher's (above 100%: more than the teacher), CI below; '-' where there is no "
        "teacher or the teacher shows no lift. Malformed: outputs that parsed to no query "
        "(the raw query was searched instead)."
    )
    if timed:
        text += (
            f" Speed (model arms): latency one query per call on {n} queries after a warm-up, "
            "p95 below; queries/s in one batched call; peak memory: what those calls "
            "allocated; '-' where not measured."
        )
    if any(a.get("outputs_cached") for a in r.arms.values()):
        text += (
            " cached: the arm's outputs were read from its generation store (made by an "
            "earlier run), so its quality and malformed counts are those outputs'; its speed "
            "was measured live in this run."
        )
    return f"<p class=muted>{escape(text)}</p>"


def _diff_table(r: QueryABResult) -> str:
    if not r.comparisons:
        return "<p class=muted>No arm to compare.</p>"
    order = {a: i for i, a in enumerate(r.ordered_arms())}
    comps = sorted(
        r.comparisons,
        key=lambda c: (c.reference != "raw", order.get(c.arm, 99), METRICS.index(c.metric)
                       if c.metric in METRICS else 99),
    )  # fmt: skip
    rows = []
    for c in comps:
        cls = ("good" if c.low > 0 else "bad") if c.significant else ""
        verdict = "better" if c.low > 0 else "worse" if c.high < 0 else "no clear difference"
        rows.append([
            f"{escape(c.arm)} &minus; {escape(c.reference)}",
            escape(METRIC_NAMES.get(c.metric, c.metric)),
            f"<span class='{cls}'>{_num(c.diff, '{:+.4f}')}</span>",
            f"[{_num(c.low, '{:+.4f}')}, {_num(c.high, '{:+.4f}')}]", verdict,
        ])  # fmt: skip
    return table(["difference", "metric", "mean", "CI", "verdict"], rows, raw=True)


def _shares_table(r: QueryABResult) -> str:
    if not r.shares:
        return ""
    rows = []
    for name in [a for a in r.ordered_arms() if a in r.shares]:
        cells = [escape(name)]
        for m in METRICS:
            share = r.shares[name].get(m)
            cells.append(_share_text(share) if share and _finite(share.get("mean")) else "-")
        rows.append(cells)
    return (
        "<h3>Share of the teacher's lift kept</h3><p class=muted>The arm's mean lift over "
        "the raw query divided by the teacher's, per metric; bootstrap CI over queries "
        "resampled together. '-': the teacher shows no lift on that metric.</p>"
        + table(["arm", *(METRIC_NAMES[m] for m in METRICS)], rows, raw=True)
    )


def _describe(r: QueryABResult) -> str:
    """One collapsed section per described arm (then any other described component)."""
    keys = [a for a in r.ordered_arms() if a in r.describe]
    keys += [k for k in r.describe if k not in keys]
    if not keys:
        return ""
    parts = []
    for key in keys:
        value = r.describe[key]
        comp = value.get("component", value) if isinstance(value, dict) else {}
        if not isinstance(comp, dict):
            comp = {}
        model = comp.get("model") or "-"
        cls = str(comp.get("class") or "")
        summary = f"<b>{escape(key)}</b>: {escape(model)}"
        if cls:
            summary += f" <span class=muted>({escape(cls.rsplit('.', 1)[-1])})</span>"
        items = [("class", cls or "-"), ("options", options_text(comp))]
        skip = {"class", "options", "model", "stage"}
        rest = {k: v for k, v in comp.items() if k not in skip}
        if isinstance(value, dict) and "component" in value:
            rest.update({k: v for k, v in value.items() if k != "component"})
        elif not isinstance(value, dict):
            rest = {"description": value}
        items += [(k, v if isinstance(v, str) else _json(v)) for k, v in rest.items()]
        dl = "".join(f"<dt>{escape(k)}</dt><dd><code>{escape(v)}</code></dd>" for k, v in items)
        parts.append(f"<details><summary>{summary}</summary><dl>{dl}</dl></details>")
    return "<h3>Components</h3>" + "".join(parts)


def _sample_intro(r: QueryABResult) -> str:
    if not r.sample:
        return ""
    text = (
        "Evaluated queries taken at even steps. Each arm's output (several queries joined "
        "with ' | ') and its nDCG@10 on that query; green: above the raw query's, red: below."
    )
    if any(row.get("history") for row in r.sample):
        text = (
            "Grey: the conversation before the query; bold: the query as typed; green: the "
            "stand-alone question (gold). " + text
        )
    return f"<p class=muted>{escape(text)}</p>"


def _sample_table(r: QueryABResult) -> str:
    if not r.sample:
        return "<p class=muted>No sample was kept.</p>"
    rows = []
    for i, row in enumerate(r.sample, start=1):
        outputs, scores = row.get("outputs", {}), row.get("ndcg@10", {})
        arms = [a for a in r.ordered_arms() if a in outputs]
        arms += [a for a in outputs if a not in arms]
        context = "".join(
            f"<span class=turn>{escape(turn[0])}: {escape(turn[1])}</span>"
            for turn in row.get("history") or []
            if len(turn) == 2
        )
        context += f"<span class=query>{escape(row.get('query', ''))}</span>"
        if row.get("gold"):
            context += f"<span class=gold>gold: {escape(row['gold'])}</span>"
        raw = scores.get("raw")
        for j, name in enumerate(arms):
            out = outputs.get(name)
            text = " | ".join(out) if isinstance(out, list) else str(out or "")
            value = scores.get(name)
            cls = ""
            if _finite(value) and _finite(raw) and name != "raw":
                cls = "good" if value > raw else "bad" if value < raw else ""
            cells = [
                f"<td class=arm>{escape(name)}</td>",
                f"<td class=out>{escape(text)}</td>",
                f"<td class=score><span class='{cls}'>{_num(value, '{:.3f}')}</span></td>",
            ]
            if j == 0:
                span = len(arms)
                cells = [f"<td rowspan={span}>{i}</td>",
                         f"<td class=ctx rowspan={span}>{context}</td>", *cells]  # fmt: skip
            rows.append(f"<tr{' class=first' if j == 0 else ''}>{''.join(cells)}</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("#", "query", "arm", "output", "nDCG@10"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _notes(r: QueryABResult) -> str:
    if not r.notes:
        return "<p class=muted>None.</p>"
    return "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in r.notes) + "</ul>"


def _dataset_table(r: QueryABResult) -> str:
    rows = [["task", escape(r.task)], ["evaluated queries", str(r.n)],
            ["queries per output (at most)", str(r.num_queries)]]  # fmt: skip
    for key, value in r.dataset.items():
        rows.append([escape(key), escape(value if isinstance(value, str) else _json(value))])
    return table(["", ""], rows, raw=True).replace("<table>", "<table class=kv>", 1)


# --- plots -----------------------------------------------------------------------------


def _img(caption: str, image: str) -> str:
    return (
        f"<figure><img alt='{escape(caption)}' src='data:image/png;base64,{image}'>"
        f"<figcaption class=muted>{escape(caption)}</figcaption></figure>"
    )


def _plots(r: QueryABResult) -> dict[str, str]:
    try:
        import matplotlib
    except ImportError:
        return {
            "missing": "<p class=muted>Plots left out: matplotlib is not installed "
            "(pip install 'ragdistill[report]').</p>"
        }
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    lifted = [a for a in r.ordered_arms() if a != "raw" and _find(r, PRIMARY, a, "raw")]
    if lifted:
        comps = [c for a in lifted for m in METRICS if (c := _find(r, m, a, "raw")) is not None]
        forest = forest_png(
            comps, plt, label=lambda c: c.arm, color=lambda c: _color(r, c.arm),
            metric_name=lambda m: METRIC_NAMES.get(m, m), xlabel="difference from raw",
        )  # fmt: skip
        out["forest"] = _img(
            "Lift over the raw query per metric (bars: CI; filled: CI excludes 0)", forest
        )
    timed = [
        a for a in r.ordered_arms()
        if a not in FIXED_ARMS and _finite((r.arms[a].get("speed") or {}).get("p50_ms"))
        and _finite(r.arms[a].get("metrics", {}).get(PRIMARY))
    ]  # fmt: skip
    if timed:
        out["scatter"] = _img(
            "nDCG@10 against median latency per query (log scale); dashed: arms without a model",
            _scatter_png(r, timed, plt),
        )
    return out


def _scatter_png(r: QueryABResult, names: list[str], plt: Any) -> str:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    points = sorted(
        ((float(r.arms[n]["speed"]["p50_ms"]), float(r.arms[n]["metrics"][PRIMARY]), n)
         for n in names),
    )  # fmt: skip
    for i, (x, y, name) in enumerate(points):
        ax.scatter([x], [y], s=50, color=_color(r, name), zorder=3)
        # Neighbours (in latency) put their labels on opposite sides: they never overlap.
        above = i % 2 == 0
        ax.annotate(
            name, (x, y), xytext=(0, 9 if above else -9), textcoords="offset points",
            ha="center", va="bottom" if above else "top", fontsize=9,
        )  # fmt: skip
    for name in (a for a in r.ordered_arms() if a in FIXED_ARMS):
        value = r.arms[name].get("metrics", {}).get(PRIMARY)
        if _finite(value):
            ax.axhline(value, ls="--", lw=1, color=_color(r, name), label=f"{name} (no model)")
    ax.set_xscale("log")
    ax.margins(x=0.25, y=0.2)
    ax.set_xlabel("latency per query, p50 ms (log)")
    ax.set_ylabel(f"{METRIC_NAMES[PRIMARY]} (mean)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    ax.grid(color="#eee")
    fig.tight_layout()
    return png(fig, plt)


# --- small helpers ---------------------------------------------------------------------


def _find(r: QueryABResult, metric: str, arm: str, ref: str) -> Comparison | None:
    try:
        return r.comparison(metric, arm, ref)
    except KeyError:
        return None


def _color(r: QueryABResult, name: str) -> str:
    if name in ARM_COLORS:
        return ARM_COLORS[name]
    others = [a for a in r.ordered_arms() if a not in ARM_COLORS]
    return f"C{2 + others.index(name) % 8}" if name in others else "C9"


def _confidence(r: QueryABResult) -> float:
    return r.comparisons[0].confidence if r.comparisons else 0.95


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _num(value: Any, fmt: str) -> str:
    """:func:`ragdistill.ab.html.num`, with '-' for NaN and infinities too."""
    return fmt.format(value) if _finite(value) else "-"


def _count(value: Any) -> str:
    """A parameter count in words: 1.2M, 350K, 7.0B."""
    if not _finite(value):
        return "-"
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= scale:
            return f"<span title='{int(value):,}'>{value / scale:.1f}{unit}</span>"
    return str(int(value))


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)
