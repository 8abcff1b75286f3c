"""Per-question scores of a pipeline answer, and per-arm summaries with paired CIs.

The offline A/B (gold answers and judged documents known) and the online log report
(only latency, errors, feedback and shadow-pair agreement) both summarise here, so
their reports read the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ragdistill.ab.result import Comparison
from ragdistill.evaluation.bootstrap import paired_bootstrap
from ragdistill.evaluation.measure import latency_stats
from ragdistill.evaluation.retrieval import ndcg_at_k
from ragdistill.rag.pipeline import PipelineAnswer
from ragdistill.rag.spec import ComponentSpec

#: Quality metrics, in report order, with what each is.
QUALITY = {
    "f1": "token F1 of the answer against the gold answers (best gold)",
    "em": "exact match with a gold answer (normalised)",
    "agreement": "token F1 of the answer against the control arm's answer",
    "context_recall": "a gold passage is among the contexts the generator read",
    "ndcg@10": "nDCG@10 of the final candidate order (after reranking)",
    "groundedness": "share of the answer's words found in its contexts",
    "feedback": "mean user feedback score (online)",
}


def score_answer(
    answer: PipelineAnswer,
    *,
    golds: Sequence[str] = (),
    relevant: Mapping[str, int] | None = None,
    sources: Sequence[str] = (),
    control_answer: str | None = None,
    abstain: str | None = None,
) -> dict[str, float]:
    """The quality scores of one answer; NaN where a score does not apply (no gold
    answers, no generator, no judged documents)."""
    from ragdistill.stages.generator.metrics import exact_match, groundedness, token_f1

    nan = math.nan
    text = answer.answer
    scores: dict[str, float] = dict.fromkeys(QUALITY, nan)
    del scores["feedback"]
    if text is not None and golds:
        scores["f1"] = token_f1(text, golds)
        scores["em"] = exact_match(text, golds)
    if text is not None and control_answer is not None:
        scores["agreement"] = token_f1(text, [control_answer]) if control_answer else nan
    wanted = set(sources) or {d for d, g in (relevant or {}).items() if g > 0}
    if wanted:
        scores["context_recall"] = float(any(c.doc_id in wanted for c in answer.contexts))
    if relevant:
        scores["ndcg@10"] = ndcg_at_k(answer.ranked, relevant, 10)
    if text is not None:
        scores["groundedness"] = groundedness(text, [f"{c.title} {c.text}" for c in answer.contexts],
                                              abstain=abstain)  # fmt: skip
    return scores


def api_cost(answer: PipelineAnswer, specs: Mapping[str, ComponentSpec]) -> float | None:
    """What the priced (API) stages of one answer cost; None if a priced stage reported
    no token counts, 0 when no stage is priced."""
    total = 0.0
    for stage, spec in specs.items():
        if spec.price is None or stage not in answer.seconds:
            continue
        usage = answer.usage.get(stage)
        if not usage:
            return None
        total += usage.get("prompt_tokens", 0) * spec.price.input_per_million / 1e6
        total += usage.get("completion_tokens", 0) * spec.price.output_per_million / 1e6
    return total


def local_seconds(answer: PipelineAnswer, specs: Mapping[str, ComponentSpec]) -> float:
    """Seconds the arm's own machine spent: every stage but the priced (API) ones."""
    priced = {s for s, spec in specs.items() if spec.price is not None}
    return sum(v for k, v in answer.seconds.items() if k not in priced)


@dataclass
class ArmSummary:
    """One arm over the evaluated questions."""

    name: str
    n: int
    quality: dict[str, float]
    latency_ms: dict[str, float]
    #: p50 milliseconds per stage (the stages the arm ran).
    stage_ms: dict[str, float]
    throughput_qps: float
    errors: int = 0
    peak_memory_bytes: int | None = None
    model_memory_bytes: int | None = None
    cost_per_1k: float | None = None
    api_cost_per_1k: float | None = None
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Stages whose component differs from the control's.
    differs: list[str] = field(default_factory=list)


def summarise(
    name: str,
    answers: Sequence[PipelineAnswer],
    scores: Sequence[Mapping[str, float]],
    *,
    errors: int = 0,
    hardware_per_hour: float = 0.0,
    specs: Mapping[str, ComponentSpec] | None = None,
) -> ArmSummary:
    """Means of the scores (NaN-aware), latency percentiles, stage p50s and cost."""
    specs = specs or {}
    quality = {m: _nanmean([s.get(m, math.nan) for s in scores]) for m in QUALITY}
    totals = [a.total_s for a in answers]
    lat = latency_stats(totals)
    stages = sorted({k for a in answers for k in a.seconds})
    stage_ms = {s: float(np.median([a.seconds[s] for a in answers if s in a.seconds]) * 1000)
                for s in stages}  # fmt: skip
    local = [local_seconds(a, specs) for a in answers]
    costs = [api_cost(a, specs) for a in answers]
    known = [c for c in costs if c is not None]
    api = None if len(known) < len(costs) else float(np.mean(known or [0.0])) * 1000
    hardware = float(np.mean(local or [math.nan])) * hardware_per_hour / 3600 * 1000
    return ArmSummary(
        name=name,
        n=len(answers),
        quality=quality,
        latency_ms={"p50": lat.p50_ms, "p95": lat.p95_ms, "mean": lat.mean_ms},
        stage_ms=stage_ms,
        throughput_qps=1000 / lat.mean_ms if lat.n and lat.mean_ms > 0 else math.nan,
        errors=errors,
        cost_per_1k=None if api is None else hardware + api,
        api_cost_per_1k=api,
    )


def paired_differences(
    arm: str,
    control: str,
    arm_scores: Mapping[str, Mapping[str, float]],
    control_scores: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[Comparison]:
    """Paired-bootstrap CIs of each metric's difference, on the question ids both arms
    scored (``{question_id: {metric: score}}``)."""
    out = []
    for metric in metrics:
        pairs = [
            (control_scores[q][metric], arm_scores[q][metric])
            for q in arm_scores
            if q in control_scores
            and not math.isnan(arm_scores[q].get(metric, math.nan))
            and not math.isnan(control_scores[q].get(metric, math.nan))
        ]
        if len(pairs) < 2:
            continue
        a, b = zip(*pairs)
        ci = paired_bootstrap(a, b, n_resamples=n_resamples, seed=seed)
        out.append(Comparison(metric, arm, control, ci.mean, ci.low, ci.high, ci.confidence))
    return out


def _nanmean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan
