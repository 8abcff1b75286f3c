"""The online A/B's result, read from its request log: the same result and report as
the offline A/B, from live traffic.

Per arm, over the requests it served (a failed treatment request stays the
treatment's even when the control answered in its place: intent to treat): errors,
end-to-end latency from the wall time the caller waited, per-stage p50s, the mean user
feedback and, for the treatment, its agreement with the control on shadow pairs (token
F1 of the two answers to the same input). Latency, error and feedback differences
compare different requests, so their CIs come from an unpaired bootstrap; shadow pairs
answered the same input, so their latency difference is paired.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ragdistill.ab.result import Comparison
from ragdistill.errors import ConfigError
from ragdistill.evaluation.bootstrap import BootstrapCI, bootstrap_difference, paired_bootstrap
from ragdistill.evaluation.measure import latency_stats
from ragdistill.rag.metrics import ArmSummary, summarise
from ragdistill.rag.pipeline import PipelineAnswer
from ragdistill.rag.request_log import RESET, START, TRIP, Event, LoggedRequest, RequestLog
from ragdistill.rag.result import PipelineABResult

#: The paired latency difference over shadow pairs (lower is better).
SHADOW_LATENCY = "shadow_latency_ms"


def report_from_log(
    path: Path | str,
    *,
    control: str | None = None,
    name: str | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    max_examples: int = 12,
) -> PipelineABResult:
    """Summarise the request log at ``path``. The control is the one the last router to
    open the log named, unless ``control`` is given."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"request log {path} does not exist; a PipelineRouter writes it")
    with RequestLog(path) as log:
        rows, feedback, events = log.requests(), log.feedback(), log.events()
    starts = [e.detail for e in events if e.kind == START]
    meta = starts[-1] if starts else {}
    served = [r for r in rows if r.role == "served"]
    if not served:
        raise ConfigError(f"request log {path} holds no served requests yet")
    control = control or meta.get("control")
    named = [control, meta.get("treatment"), *(r.arm for r in served)]
    arm_names: list[str] = [a for a in dict.fromkeys(named) if a and any(r.arm == a for r in served)]  # fmt: skip
    if control is None or control not in arm_names:
        raise ConfigError(f"request log {path}: no served requests of the control {control!r}; pass control= one of {', '.join(arm_names)}")  # fmt: skip
    treatment = meta.get("treatment") if meta.get("treatment") in arm_names else None
    treatment = treatment or next((a for a in arm_names if a != control), None)

    scores_of: dict[str, list[float]] = defaultdict(list)
    for f in feedback:
        scores_of[f.request_id].append(f.score)
    rated = {rid: sum(s) / len(s) for rid, s in scores_of.items()}
    pairs = _shadow_pairs(rows, served, control)
    agreement: dict[str, list[float]] = defaultdict(list)
    for c, t in pairs:
        if c.answer is not None and t.answer is not None:
            agreement[t.arm].append(_agreement(t.answer, c.answer))

    by_arm = {a: [r for r in served if r.arm == a] for a in arm_names}
    components = meta.get("components") or {}
    summaries = [_summary(a, by_arm[a], rated, agreement.get(a, []), components.get(a, {}),
                          meta.get("differs", []) if a == treatment else [])
                 for a in arm_names]  # fmt: skip
    comparisons: list[Comparison] = []
    for arm in arm_names:
        if arm != control:
            comparisons += _compare(arm, control, by_arm, rated, pairs, n_bootstrap, seed)
    times = [r.created for r in rows]
    return PipelineABResult(
        name=name or meta.get("name") or path.stem, source="online", control=control,
        treatment=treatment, arms=summaries, comparisons=comparisons,
        dataset={"requests": len(served), "shadow pairs": len(pairs),
                 "feedback": len(feedback), "from": _iso(min(times)), "to": _iso(max(times))},
        notes=_notes(rows, served, events, starts, pairs, control),
        examples=_examples(pairs, max_examples),
    )  # fmt: skip


def _shadow_pairs(
    rows: Sequence[LoggedRequest], served: Sequence[LoggedRequest], control: str
) -> list[tuple[LoggedRequest, LoggedRequest]]:
    """``(control row, other arm's row)`` of every served request that has a shadow."""
    by_id = {r.request_id: r for r in served}
    pairs = []
    for shadow in rows:
        first = by_id.get(shadow.pair_id or "") if shadow.role == "shadow" else None
        if first is None or control not in (first.arm, shadow.arm) or first.arm == shadow.arm:
            continue
        pairs.append((first, shadow) if first.arm == control else (shadow, first))
    return pairs


def _agreement(answer: str, control_answer: str) -> float:
    from ragdistill.stages.generator.metrics import token_f1

    # As the offline A/B scores it: no agreement with an empty control answer.
    return token_f1(answer, [control_answer]) if control_answer else math.nan


def _summary(
    name: str,
    rows: Sequence[LoggedRequest],
    rated: Mapping[str, float],
    agreement: Sequence[float],
    components: Mapping[str, Any],
    differs: Sequence[str],
) -> ArmSummary:
    ok = [r for r in rows if r.error is None]
    answers = [PipelineAnswer("", [], [], [], r.answer, dict(r.seconds)) for r in ok]
    scores = [{"feedback": rated[r.request_id]} for r in rows if r.request_id in rated]
    scores += [{"agreement": a} for a in agreement]
    summary = summarise(name, answers, scores, errors=len(rows) - len(ok))
    # The wall time each caller waited (queueing for a busy model included), not the
    # sum of the stages; cost is not known online.
    lat = latency_stats([(r.total_ms or 0.0) / 1000 for r in ok])
    summary.n = len(rows)
    summary.latency_ms = {"p50": lat.p50_ms, "p95": lat.p95_ms, "mean": lat.mean_ms}
    summary.throughput_qps = 1000 / lat.mean_ms if lat.n and lat.mean_ms > 0 else math.nan
    summary.cost_per_1k = summary.api_cost_per_1k = None
    summary.components = {s: dict(c) for s, c in components.items()}
    summary.differs = list(differs)
    return summary


def _compare(
    arm: str,
    control: str,
    by_arm: Mapping[str, Sequence[LoggedRequest]],
    rated: Mapping[str, float],
    pairs: Sequence[tuple[LoggedRequest, LoggedRequest]],
    n_bootstrap: int,
    seed: int,
) -> list[Comparison]:
    def groups(value: Any) -> tuple[list[float], list[float]]:
        return tuple([v for r in by_arm[a] if (v := value(r)) is not None] for a in (control, arm))  # type: ignore[return-value]  # fmt: skip

    unpaired = {
        "latency_ms": groups(lambda r: r.total_ms if r.error is None else None),
        "error": groups(lambda r: float(r.error is not None)),
        "feedback": groups(lambda r: rated.get(r.request_id)),
    }
    out = []
    for metric, (mine, theirs) in unpaired.items():
        if len(mine) >= 2 and len(theirs) >= 2:
            ci = bootstrap_difference(mine, theirs, n_resamples=n_bootstrap, seed=seed)
            out.append(_comparison(metric, arm, control, ci))
    timed = [(c.total_ms, t.total_ms) for c, t in pairs if t.arm == arm and c.error is None
             and t.error is None and c.total_ms is not None and t.total_ms is not None]  # fmt: skip
    if len(timed) >= 2:
        ci = paired_bootstrap(*zip(*timed), n_resamples=n_bootstrap, seed=seed)
        out.append(_comparison(SHADOW_LATENCY, arm, control, ci))
    return out


def _comparison(metric: str, arm: str, control: str, ci: BootstrapCI) -> Comparison:
    return Comparison(metric, arm, control, ci.mean, ci.low, ci.high, ci.confidence)


def _notes(
    rows: Sequence[LoggedRequest],
    served: Sequence[LoggedRequest],
    events: Sequence[Event],
    starts: Sequence[Mapping[str, Any]],
    pairs: Sequence[tuple[LoggedRequest, LoggedRequest]],
    control: str,
) -> list[str]:
    how = Counter(r.assignment for r in served)
    notes = [f"{len(served)} served requests: {how['key']} assigned by key (sticky), "
             f"{how['random']} at random (no key), {how['guardrail']} sent to the control by "
             f"the guardrail, {how['forced']} forced to an arm."]  # fmt: skip
    fallbacks = sum(1 for r in rows if r.role == "fallback")
    if fallbacks:
        notes.append(f"{fallbacks} failed treatment requests were answered by the control "
                     "instead; they count as the treatment's (intent to treat): its errors, "
                     "its feedback.")  # fmt: skip
    for e in events:
        if e.kind == TRIP:
            notes.append(f"Guardrail tripped at {_iso(e.created)} for {e.arm}: {e.detail.get('reason')}.")  # fmt: skip
        elif e.kind == RESET:
            notes.append(f"Guardrail reset at {_iso(e.created)} for {e.arm}.")
    if not any(e.kind == TRIP for e in events):
        notes.append("No guardrail trips.")
    notes.append("Latency, error-rate and feedback differences compare different requests "
                 "(unpaired bootstrap, each arm resampled on its own), not the same questions.")  # fmt: skip
    if pairs:
        notes.append(f"{SHADOW_LATENCY} and agreement compare both arms on the same input "
                     f"({len(pairs)} shadow pairs; paired bootstrap). Shadow runs are off the "
                     "response path, so they may have run under a different load.")  # fmt: skip
    settings = {(s.get("control"), s.get("treatment"), s.get("treatment_share")) for s in starts}
    if len(settings) > 1:
        notes.append(f"The log holds requests of {len(settings)} router settings "
                     "(control, treatment, share); the last one's control is used.")  # fmt: skip
    other = {r.arm for r in served} - {control, *(s.get("treatment") for s in starts)}
    if other:
        notes.append(f"Arms not named by the last router: {', '.join(sorted(other))}.")
    return notes


def _examples(pairs: Sequence[tuple[LoggedRequest, LoggedRequest]], limit: int) -> list[dict[str, Any]]:  # fmt: skip
    """Shadow pairs side by side (the question itself is never logged)."""
    out = []
    for c, t in [p for p in pairs if p[0].answer is not None and p[1].answer is not None][:limit]:
        arms = {r.arm: {"answer": r.answer, "contexts": r.contexts, "ms": r.total_ms or 0.0}
                for r in (c, t)}  # fmt: skip
        out.append({"question": f"input {c.inputs_digest[:12]} (questions are not logged)",
                    "gold": [], "arms": arms})  # fmt: skip
    return out


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="seconds")
