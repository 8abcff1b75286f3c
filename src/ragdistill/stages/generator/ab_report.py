"""A self-contained HTML report of a :class:`GenerationABResult` (inline CSS, PNG data URIs).

Plots need matplotlib (``ragdistill[report]``); without it the report still renders,
with its tables and a note where the plots would be. Every model answer is escaped.
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
from ragdistill.stages.generator.ab_result import (
    CONFIDENCE,
    QUALITY,
    TEACHER,
    GenerationABResult,
)

EXTRA_CSS = """
.sample td,.sample th{text-align:left;vertical-align:top;max-width:22rem;overflow-wrap:anywhere}
.sample .muted{display:block}
"""
METRIC_NAMES = {"em": "EM", "f1": "F1", "agreement": "agreement", "groundedness": "grounded"}
#: The metric a report's headline gives.
MAIN_METRIC = "f1"


def write_report(result: GenerationABResult, path: Path | str) -> Path:
    """Write the report to ``path`` and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    r, s = result, result.settings
    counts = next(iter(r.arms.values())).counts if r.arms else {}
    plots = _plots(r)
    title = f"Generator A/B: {escape(r.dataset.get('name', '?'))}"
    body = [
        f"<h1>{title}</h1>",
        _headline(r),
        f"<p class=muted>{len(r.example_ids)} prompts, the same for every arm "
        f"({counts.get('scored', 0)} with gold answers, {counts.get('unanswerable', 0)} "
        f"unanswerable: their source passages withheld); abstention reply "
        f"&ldquo;{escape(s.get('abstain', ''))}&rdquo;; {s.get('confidence', CONFIDENCE):.0%} "
        f"bootstrap CIs ({s.get('n_bootstrap')} resamples, seed {s.get('seed')}), paired for "
        f"differences; created {escape(r.created)}</p>",
        _arms_table(r),
        _size_note(r),
        "<h2>Answer quality</h2>",
        "<p class=muted>EM and F1: SQuAD exact match and token F1 against the gold answers, "
        "on answerable examples with gold answers. Agreement: token F1 against the teacher's "
        "answer. Grounded: share of the answer's words found in its prompt's passages "
        "(abstentions not scored). Abstention: share of unanswerable examples on which the "
        "arm abstained (right); false abstention: share of answerable ones (wrong).</p>",
        _metrics_table(r),
        plots.get("quality", ""),
        "<h2>Differences</h2>",
        _diff_table(r),
        "<h2>Speed</h2>",
        "<p class=muted>One request at a time, as a live service. Time to first token: "
        "wall time of the request with a one-token budget (prefill and one token). Decode "
        "rate: tokens after the first per second of a full answer. Memory: what the timed "
        "calls allocated (accelerator memory on CUDA, else resident-memory growth).</p>",
        _speed_table(r),
        _cached_note(r),
        plots.get("speed", ""),
        "<h2>Answer lengths</h2>",
        plots.get("lengths", ""),
        f"<p class=muted>{_dropped_note(r)}</p>",
        f"<h2>Sample of {len(r.sample)} answers</h2>",
        f"<div class=sample>{_sample_table(r)}</div>",
    ]
    if "missing" in plots:
        body.insert(2, plots["missing"])
    page = (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{title}</title><style>{CSS}{EXTRA_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path


def _headline(r: GenerationABResult) -> str:
    """One sentence per arm: the share of the teacher's F1 it keeps, its answer speed."""
    teacher = r.arms.get(TEACHER)
    if teacher is None:
        return ""
    # Whole answers where they were timed (results from before they were: first tokens).
    t_answer = (teacher.speed or {}).get("answer_p50_ms")
    answer = t_answer is not None and math.isfinite(t_answer)
    sentences = []
    for name in ordered([n for n in r.arms if n != TEACHER]):
        try:
            c = r.comparison(MAIN_METRIC, name, TEACHER)
        except KeyError:
            continue
        kept = kept_of_teacher(c, teacher.metrics.get(MAIN_METRIC, math.nan))
        if answer:
            ratio = speed_ratio(t_answer, (r.arms[name].speed or {}).get("answer_p50_ms"))
        else:
            ratio = r.speedup(name)
        words = "answer speed" if answer else "speed to the first token"
        sentences.append(kept_sentence(name, "F1", kept, ratio, speed=words))
    note = KEPT_NOTE.format(items="examples (those with gold answers)")
    if answer:
        note += " Answer speed: median wall time of a whole answer, the teacher's over the arm's."
    else:
        note += (
            " Speed to the first token: median time to first token, the teacher's over the arm's."
        )
    return headline_html(sentences, note=note)


def _arms_table(r: GenerationABResult) -> str:
    rows = []
    for name, arm in r.arms.items():
        c, speed = arm.component, arm.speed or {}
        rows.append([
            name, fit(c.get("model", "-")), fit(c.get("class", "?")), options_cell(c),
            num(speed.get("parameters"), "{:,}"), size_text(speed.get("size_bytes")),
        ])  # fmt: skip
    return table(["arm", "model", "class", "options", "parameters", "model size"], rows)


def _size_note(r: GenerationABResult) -> str:
    if not any(a.speed and a.speed.get("size_bytes") is None for a in r.arms.values()):
        return ""
    return (
        "<p class=muted>Model size '-': the model was not loaded from a local folder (a "
        "hub name, a server), so there is no folder to measure.</p>"
    )


def _cached_note(r: GenerationABResult) -> str:
    if not any(_memory_cached(a.speed or {}, a.outputs_cached) for a in r.arms.values()):
        return ""
    return cached_note(
        "Its speed was timed on the model itself.",
        source="its answer store (the teacher's: its labelling store)",
    )


def _memory_cached(speed: dict[str, Any], cached: bool) -> bool:
    """A cached arm's resident-memory growth is the cache's; accelerator memory (the
    peak of live tensors) does not depend on what ran before, so it stays."""
    return cached and speed.get("memory", "rss") != "cuda"


def _ci_cell(value: float, ci: list[float] | None) -> str:
    if math.isnan(value):
        return "-"
    if not ci:
        return f"{value:.4f}"
    return f"{value:.4f} <span class=muted>[{ci[0]:.3f}, {ci[1]:.3f}]</span>"


def _metrics_table(r: GenerationABResult) -> str:
    rows = []
    for name, arm in r.arms.items():
        m = arm.metrics
        row = [escape(name)]
        row += [_ci_cell(m.get(k, math.nan), arm.metric_ci.get(k)) for k in METRIC_NAMES]
        row += [_pct(m.get(k)) for k in ("abstention_rate", "false_abstention_rate", "abstained")]
        row += [num(m.get("answer_length"), "{:.1f}"), str(arm.counts.get("scored", 0))]
        rows.append(row)
    head = [
        "arm",
        *METRIC_NAMES.values(),
        "abstention (unanswerable)",
        "false abstention",
        "abstained (all)",
        "words",
        "scored",
    ]
    return table(head, rows, raw=True)


def _diff_table(r: GenerationABResult) -> str:
    if not r.comparisons:
        return "<p class=muted>No pair of teacher, student and baseline arms to compare.</p>"
    rows = []
    for c in r.comparisons:
        cls = ("good" if c.low > 0 else "bad") if c.significant else ""
        verdict = "better" if c.low > 0 else "worse" if c.high < 0 else "no clear difference"
        rows.append([
            f"{escape(c.arm)} &minus; {escape(c.reference)}", escape(METRIC_NAMES[c.metric]),
            f"<span class='{cls}'>{c.diff:+.4f}</span>", f"[{c.low:+.4f}, {c.high:+.4f}]",
            verdict,
        ])  # fmt: skip
    return table(["difference", "metric", "mean", "CI", "verdict"], rows, raw=True)


def _speed_table(r: GenerationABResult) -> str:
    rows = []
    for name, arm in r.arms.items():
        sp = arm.speed
        if not sp:
            continue
        ratios = r.speed_ratios.get(name, {})
        rows.append([
            name, num(sp.get("ttft_p50_ms"), "{:.1f}"), num(sp.get("ttft_p95_ms"), "{:.1f}"),
            num(sp.get("answer_p50_ms"), "{:.1f}"), num(sp.get("tokens_per_s"), "{:.1f}"),
            num(sp.get("decode_ms_per_token"), "{:.2f}"),
            CACHED_MARK if _memory_cached(sp, arm.outputs_cached)
            else f"{size_text(sp.get('peak_memory_bytes'))} ({sp.get('memory', 'rss')})",
            num(ratios.get("ttft_speedup"), "{:.2f}x"),
            num(ratios.get("tokens_per_s_ratio"), "{:.2f}x"), str(sp.get("n", 0)),
        ])  # fmt: skip
    if not rows:
        return "<p class=muted>No arm was timed.</p>"
    head = [
        "arm",
        "TTFT p50 ms",
        "TTFT p95 ms",
        "answer p50 ms",
        "tokens/s",
        "ms/token",
        "peak memory",
        "TTFT speedup",
        "tokens/s vs teacher",
        "requests",
    ]
    return table(head, rows)


def _dropped_note(r: GenerationABResult) -> str:
    prompts, passages = r.dropped.get("prompts", 0), r.dropped.get("passages", 0)
    if not passages:
        return "Every prompt held all its passages."
    return (
        f"{passages} passages were dropped (lowest-ranked first) to fit the prompt budget, "
        f"in {prompts} of {len(r.example_ids)} prompts; every arm saw the same prompts."
    )


def _sample_table(r: GenerationABResult) -> str:
    rows = []
    for row in r.sample:
        gold = " | ".join(row.get("answers", [])) or "-"
        if row.get("answerable") is False:
            gold = f"(unanswerable) {gold}"
        question = escape(row.get("question", ""))
        if row.get("dropped"):
            n = int(row["dropped"])
            question += f"<span class=muted>{n} passage{'s' * (n > 1)} dropped</span>"
        cells = [question, escape(gold)]
        for name in r.arms:
            answer = escape(row.get("outputs", {}).get(name, ""))
            f1 = row.get("f1", {}).get(name)
            note = "" if f1 is None or math.isnan(f1) else f"<span class=muted>F1 {f1:.2f}</span>"
            cells.append(answer + note)
        rows.append(cells)
    return table(["question", "gold", *r.arms], rows, raw=True)


def _pct(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1%}"


def _img(caption: str, image: str) -> str:
    return (
        f"<figure><img alt='{escape(caption)}' src='data:image/png;base64,{image}'>"
        f"<figcaption class=muted>{escape(caption)}</figcaption></figure>"
    )


def _plots(r: GenerationABResult) -> dict[str, str]:
    try:
        import matplotlib
    except ImportError:
        return {
            "missing": "<p class=muted>Plots left out: matplotlib is not installed "
            "(pip install 'ragdistill[report]').</p>"
        }
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(r.arms)
    out = {"quality": _img("Quality per arm (bootstrap CI whiskers)", _quality_png(r, plt))}
    timed = [n for n in names if r.arms[n].speed]
    if timed:
        out["speed"] = _img(
            "Median time to first token (whisker: p95) and decode rate", _speed_png(r, timed, plt)
        )
    out["lengths"] = _img("Answer length in words, per arm", _lengths_png(r, plt))
    return out


def _quality_png(r: GenerationABResult, plt: Any) -> str:
    metrics = [*QUALITY, "agreement"]
    names = list(r.arms)
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(1, len(names))
    for i, (name, color) in enumerate(_colors(r).items()):
        arm = r.arms[name]
        label: str | None = name
        for j, m in enumerate(metrics):
            y = arm.metrics.get(m, math.nan)
            if math.isnan(y):
                continue
            ci = arm.metric_ci.get(m)
            err = [[y - ci[0]], [ci[1] - y]] if ci else None
            ax.bar(j + i * width, y, width, yerr=err, capsize=3, color=color, label=label)
            label = None
    ax.set_xticks(
        [j + width * (len(names) - 1) / 2 for j in range(len(metrics))],
        [METRIC_NAMES[m] for m in metrics],
    )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("mean over examples")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig, plt)


def _speed_png(r: GenerationABResult, names: list[str], plt: Any) -> str:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    colors = [_colors(r)[n] for n in names]
    speeds = [r.arms[n].speed or {} for n in names]
    p50 = [_nan(sp.get("ttft_p50_ms")) for sp in speeds]
    p95 = [_nan(sp.get("ttft_p95_ms")) for sp in speeds]
    err = [
        [0.0] * len(names),
        [max(0.0, b - a) if not math.isnan(b - a) else 0.0 for a, b in zip(p50, p95)],
    ]
    ax1.bar(names, p50, yerr=err, capsize=3, color=colors)
    ax1.set_ylabel("time to first token, ms (p50)")
    ax2.bar(names, [_nan(sp.get("tokens_per_s")) for sp in speeds], color=colors)
    ax2.set_ylabel("decode rate, tokens/s")
    fig.tight_layout()
    return png(fig, plt)


def _lengths_png(r: GenerationABResult, plt: Any) -> str:
    fig, ax = plt.subplots(figsize=(8, 3.6))
    names = list(r.arms)
    series = [r.arms[n].per_example.get("length", []) for n in names]
    top = int(max([1.0, *(v for vs in series for v in vs)]))
    step = top // 30 + 1
    bins = list(range(0, top + step + 1, step))
    ax.hist(
        series,
        bins=bins,
        label=names,
        align="left" if step == 1 else "mid",
        color=[_colors(r)[n] for n in names],
    )
    ax.set_xlabel("words per answer" + (f" (bins of {step})" if step > 1 else ""))
    ax.set_ylabel("answers")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig, plt)


def _colors(r: GenerationABResult) -> dict[str, str]:
    """The shared colours of the known arms; matplotlib's cycle from C2 for the others."""
    return {n: COLORS.get(n, f"C{2 + i % 8}") for i, n in enumerate(r.arms)}


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)
