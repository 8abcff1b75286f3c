"""A self-contained HTML report of an :class:`ABResult`: inline CSS, plots as data URIs.

The file opens anywhere, offline, and can be attached to an issue or an e-mail: it
loads no script, stylesheet, font or image from anywhere.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any

from ragdistill.ab.result import ABResult
from ragdistill.errors import require

COLORS = {"teacher": "#4C72B0", "student": "#DD8452", "baseline": "#8C8C8C"}
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;line-height:1.4;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{padding:.3rem .7rem;
border-bottom:1px solid #eee;text-align:right}th:first-child,td:first-child{text-align:left}
th{background:#f6f6f6}.good{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.muted{color:#777;font-size:.9rem}img{max-width:100%;margin:.5rem 0}
"""


def write_html_report(result: ABResult, path: Path | str) -> Path:
    """Write the report to ``path`` and return it (needs matplotlib: ``ragdistill[report]``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plots = _plots(result)
    body = [
        f"<h1>Retrieval A/B: {_e(result.dataset.get('name'))}</h1>",
        f"<p class=muted>{len(result.query_ids)} queries, {result.dataset.get('documents')} "
        f"documents in {result.dataset.get('passages')} passages; k={result.settings.get('k')}; "
        f"{result.settings.get('confidence', 0.95):.0%} paired bootstrap CIs "
        f"({result.settings.get('n_bootstrap')} resamples, seed {result.settings.get('seed')}); "
        f"created {_e(result.created)}</p>",
        _arms_table(result),
    ]
    if result.comparisons:
        body += ["<h2>Quality</h2>", _metrics_table(result), _diff_table(result)]
    else:
        body.append("<p class=muted>No relevance judgements: quality metrics not computed.</p>")
    if result.agreement:
        body += ["<h2>Agreement with the teacher</h2>", _agreement_table(result)]
    body += ["<h2>Efficiency</h2>", _efficiency_table(result)]
    for title, png in plots:
        body.append(
            f"<h2>{_e(title)}</h2><img alt='{_e(title)}' src='data:image/png;base64,{png}'>"
        )
    page = (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>Retrieval A/B: {_e(result.dataset.get('name'))}</title><style>{CSS}</style>"
        f"</head><body>{''.join(body)}</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path


def _arms_table(r: ABResult) -> str:
    rows = [
        [name, arm.model or "-", arm.embedder.get("class", "?"), _options(arm.embedder),
         arm.fingerprint[:12]]
        for name, arm in r.arms.items()
    ]  # fmt: skip
    return _table(["arm", "model", "class", "options", "fingerprint"], rows)


def _metrics_table(r: ABResult) -> str:
    metrics = list(next(iter(r.arms.values())).metrics)
    rows = []
    for m in metrics:
        row = [_e(m)]
        for arm in r.arms.values():
            low, high = arm.metric_ci.get(m, [math.nan, math.nan])
            row.append(f"{arm.metrics[m]:.4f} <span class=muted>[{low:.3f}, {high:.3f}]</span>")
        rows.append(row)
    return _table(["metric", *r.arms], rows, raw=True)


def _diff_table(r: ABResult) -> str:
    rows = []
    for c in r.comparisons:
        cls = ("good" if c.low > 0 else "bad") if c.significant else ""
        verdict = "better" if c.low > 0 else "worse" if c.high < 0 else "no clear difference"
        rows.append([
            f"{_e(c.arm)} &minus; {_e(c.reference)}", _e(c.metric),
            f"<span class='{cls}'>{c.diff:+.4f}</span>", f"[{c.low:+.4f}, {c.high:+.4f}]", verdict,
        ])  # fmt: skip
    return _table(["difference", "metric", "mean", "CI", "verdict"], rows, raw=True)


def _agreement_table(r: ABResult) -> str:
    rows = []
    for arm, values in r.agreement.items():
        for metric, v in values.items():
            rows.append([arm, metric, f"{v['mean']:.4f}", f"[{v['low']:.3f}, {v['high']:.3f}]"])
    return _table(["arm", "top-k overlap", "mean", "CI"], rows)


def _efficiency_table(r: ABResult) -> str:
    def lat(arm: Any, part: str, key: str) -> str:
        return f"{arm.latency.get(part, {}).get(key, math.nan):.2f}"

    rows = []
    for name, arm in r.arms.items():
        rows.append([
            name, lat(arm, "total", "p50_ms"), lat(arm, "total", "p95_ms"),
            lat(arm, "encode", "p50_ms"), lat(arm, "search", "p50_ms"),
            _num(arm.throughput_texts_per_s, "{:.1f}"), _num(arm.query_throughput_per_s, "{:.1f}"),
            _bytes(arm.model_size_bytes),
            _num(arm.parameters, "{:,}"), _bytes(arm.peak_memory_bytes),
            _num(arm.index_seconds, "{:.1f}"),
        ])  # fmt: skip
    head = ["arm", "p50 ms", "p95 ms", "encode p50", "search p50", "passages/s", "queries/s", "model size",
            "parameters", "peak mem +", "index s"]  # fmt: skip
    return _table(head, rows)


def _plots(r: ABResult) -> list[tuple[str, str]]:
    require("matplotlib", extra="report")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    names = list(r.arms)
    if r.comparisons:
        metrics = list(r.arms[names[0]].metrics)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
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
        ax1.legend()
        labels = [f"{c.arm}-{c.reference}\n{c.metric}" for c in r.comparisons]
        diffs = [c.diff for c in r.comparisons]
        err = [[c.diff - c.low for c in r.comparisons], [c.high - c.diff for c in r.comparisons]]
        ax2.errorbar(diffs, range(len(diffs)), xerr=err, fmt="o", capsize=3)
        ax2.axvline(0, color="#999", lw=1)
        ax2.set_yticks(range(len(diffs)), labels, fontsize=7)
        ax2.set_xlabel("difference (paired bootstrap CI)")
        fig.tight_layout()
        out.append(("Metrics with confidence intervals", _png(fig, plt)))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.boxplot([r.arms[n].latency_ms for n in names], showfliers=True)
    ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylabel("per-query latency, ms (encode + search)")
    fig.tight_layout()
    out.append(("Query latency distribution", _png(fig, plt)))
    metric = _primary(r)
    if metric:
        t, s = r.arms["teacher"].per_query[metric], r.arms["student"].per_query[metric]
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(t, s, alpha=0.6, s=14, color=COLORS["student"])
        ax.plot([0, 1], [0, 1], color="#999", lw=1)
        ax.set_xlabel(f"teacher {metric}")
        ax.set_ylabel(f"student {metric}")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        fig.tight_layout()
        out.append((f"Per-query {metric}: teacher vs student", _png(fig, plt)))
    return out


def _primary(r: ABResult) -> str | None:
    metrics = [m for m in r.arms["teacher"].per_query if m.startswith("ndcg@")]
    return metrics[0] if metrics else None


def _png(fig: Any, plt: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _table(head: list[str], rows: list[list[Any]], *, raw: bool = False) -> str:
    cell = (lambda v: str(v)) if raw else (lambda v: _e(v))
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def _options(describe: dict[str, Any]) -> str:
    opts = describe.get("options") or {}
    return ", ".join(f"{k}={v}" for k, v in opts.items()) or "-"


def _num(value: float | int | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _bytes(value: int | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024  # type: ignore[assignment]
    return f"{value} B"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
