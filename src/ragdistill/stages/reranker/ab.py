"""Rerank the same fixed candidate lists with every arm and compare them.

The candidates come from one first stage (each query's top passages, best first), so
the arms differ only in how they order them. Quality is scored per document (a
document ranks at its best passage) against the qrels: nDCG@10 and MRR@10, with
bootstrap CIs, paired between arms. Agreement with the teacher: Kendall's tau-b over
each query's candidate scores and the top-10 overlap. Latency: one query's candidates
scored per call at each list size, the arms interleaved query by query so a busy
machine slows them alike (a call under a second is the median of five).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ragdistill.ab.result import Comparison
from ragdistill.contracts import Reranker
from ragdistill.datasets import Passage, RetrievalDataset
from ragdistill.errors import ConfigError
from ragdistill.evaluation.bootstrap import bootstrap_mean, paired_bootstrap
from ragdistill.evaluation.measure import folder_size_bytes, latency_stats
from ragdistill.evaluation.retrieval import evaluate_run, overlap_at_k
from ragdistill.stages.reranker.ab_result import FIRST_STAGE, RerankABResult, RerankArm

Scores = Sequence[float] | npt.NDArray[np.floating[Any]]


def kendall_tau(a: Scores, b: Scores) -> float:
    """Kendall's tau-b of two score lists over the same items (0 when either is all ties)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    i, j = np.triu_indices(len(x), 1)
    dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    denom = np.sqrt(np.count_nonzero(dx) * np.count_nonzero(dy))
    return float((dx * dy).sum() / denom) if denom else 0.0


def doc_ranking(candidates: Sequence[Passage], scores: Scores) -> list[str]:
    """Document ids by descending score, each at its best passage; ties keep list order."""
    ranked: list[str] = []
    for i in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"):
        if candidates[int(i)].doc_id not in ranked:
            ranked.append(candidates[int(i)].doc_id)
    return ranked


def run_rerank_ab(
    dataset: RetrievalDataset,
    candidates: Mapping[str, Sequence[str]],
    arms: Mapping[str, Reranker],
    *,
    k: int = 20,
    quality_scorers: Mapping[str, Reranker] | None = None,
    first_stage: Mapping[str, Any] | None = None,
    latency_candidates: Sequence[int] = (20, 50, 100),
    latency_queries: int = 20,
    latency_arms: Sequence[str] | None = None,
    warmup: int = 1,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    show_progress: bool = True,
) -> RerankABResult:
    """Compare rerankers on ``candidates`` (judged query id -> passage ids, best first).

    ``arms`` must include ``"teacher"``; others are typically ``"student"`` and
    ``"baseline"`` (the student before distillation). ``first_stage`` describes the
    retriever that made the lists; its own order is scored as the ``first_stage`` arm.
    ``quality_scorers`` replaces an arm's scorer for quality only (the teacher behind
    its score cache); latency always times the arm itself. ``latency_arms`` defaults to
    every arm but ``baseline`` (which costs what the student costs).
    """
    from tqdm.auto import tqdm

    if "teacher" not in arms:
        raise ConfigError(f"a reranker A/B needs a 'teacher' arm, got {', '.join(arms)}")
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    passages = {p.id: p for p in dataset.passages()}
    judged = set(dataset.evaluable_query_ids())
    qids = [q for q in candidates if candidates[q] and q in judged]
    if not qids:
        raise ConfigError("no judged query has candidates; a reranker A/B needs qrels")
    lists = {q: [passages[p] for p in candidates[q][:k]] for q in qids}
    timed = [n for n in (latency_arms or [a for a in arms if a != "baseline"]) if n in arms]
    lat_ids = qids[:latency_queries]
    depth = max([k, *latency_candidates])
    prepare = {q: [passages[p].text for p in candidates[q][:depth]] for q in lat_ids}
    results: dict[str, RerankArm] = {}
    scores: dict[str, list[np.ndarray]] = {}
    for name, arm in arms.items():
        prep = _prepare(arm, [p.text for q in qids for p in lists[q]], prepare, show_progress)
        scorer = (quality_scorers or {}).get(name, arm)
        bar = tqdm(qids, desc=f"reranking ({name})", disable=not show_progress)
        scores[name] = [scorer.score(dataset.queries[q], [p.text for p in lists[q]]) for q in bar]
        results[name] = RerankArm(
            name=name, component=arm.describe(), model=_model_name(arm), prepare_seconds=prep,
            outputs_cached=scorer is not arm,
        )  # fmt: skip
    scores[FIRST_STAGE] = [-np.arange(len(lists[q]), dtype=np.float64) for q in qids]
    results[FIRST_STAGE] = RerankArm(name=FIRST_STAGE, component=dict(first_stage or {}))
    results[FIRST_STAGE].model = (first_stage or {}).get("model")
    boot: dict[str, Any] = {"n_resamples": n_bootstrap, "confidence": confidence, "seed": seed}
    rankings = {n: [doc_ranking(lists[q], s) for q, s in zip(qids, scores[n])] for n in scores}
    qrels = {q: dataset.qrels[q] for q in qids}
    for name, ranked in rankings.items():
        arm_result = results[name]
        metrics = evaluate_run(
            dict(zip(qids, ranked)), qrels, cutoffs=(10,), metrics=("ndcg", "mrr")
        )
        for metric, per_query in metrics.items():
            values = [per_query[q] for q in qids]
            ci = bootstrap_mean(values, **boot)
            arm_result.per_query[metric] = values
            arm_result.metrics[metric] = ci.mean
            arm_result.metric_ci[metric] = [ci.low, ci.high]
        if name != "teacher":
            taus = [kendall_tau(t, s) for t, s in zip(scores["teacher"], scores[name])]
            overlaps = [overlap_at_k(t, r, 10) for t, r in zip(rankings["teacher"], ranked)]
            for key, values in (("kendall_tau", taus), ("overlap@10", overlaps)):
                ci = bootstrap_mean(values, **boot)
                arm_result.agreement[key] = {"mean": ci.mean, "low": ci.low, "high": ci.high}
    _time(
        arms, timed, results, dataset, lat_ids, prepare, latency_candidates, warmup, show_progress
    )
    for name, arm in arms.items():  # after timing: by now every arm has loaded its model
        results[name].parameters = _parameters(arm)
        results[name].model_size_bytes = folder_size_bytes(_model_dir(arm))
    return RerankABResult(
        dataset={**dataset.stats(), "fingerprint": dataset.fingerprint()},
        settings={"k": k, "latency_candidates": list(latency_candidates),
                  "latency_queries": len(lat_ids), "warmup": warmup, "n_bootstrap": n_bootstrap,
                  "confidence": confidence, "seed": seed, "first_stage": dict(first_stage or {})},
        query_ids=qids,
        arms=results,
        comparisons=_compare(results, boot),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )  # fmt: skip


def _prepare(
    arm: Reranker, texts: list[str], latency: dict[str, list[str]], show_progress: bool
) -> float | None:
    """Let an arm that stores document representations (ColBERT) index them, timed."""
    index = getattr(arm, "index_documents", None)
    if not callable(index):
        return None
    docs = list(dict.fromkeys([*texts, *(t for ts in latency.values() for t in ts)]))
    start = time.perf_counter()
    index(docs, show_progress=show_progress)
    return time.perf_counter() - start


def _time(
    arms: Mapping[str, Reranker],
    timed: list[str],
    results: dict[str, RerankArm],
    dataset: RetrievalDataset,
    lat_ids: list[str],
    texts: dict[str, list[str]],
    sizes: Sequence[int],
    warmup: int,
    show_progress: bool,
) -> None:
    from tqdm.auto import tqdm

    # Warm-up (lazy loading, first-call allocations) on the smallest lists only: a
    # teacher may take seconds per call, and warming every size would double its cost.
    for q in lat_ids[:warmup]:
        for name in timed:
            arms[name].score(dataset.queries[q], texts[q][: min(sizes)])
    for size in sizes:
        seconds: dict[str, list[float]] = {n: [] for n in timed}
        bar = tqdm(lat_ids, desc=f"timing @{size}", disable=not show_progress)
        for turn, q in enumerate(bar):
            docs = texts[q][:size]
            for name in timed[turn % len(timed) :] + timed[: turn % len(timed)]:
                seconds[name].append(_timed_call(arms[name], dataset.queries[q], docs))
        mean_n = float(np.mean([len(texts[q][:size]) for q in lat_ids])) if lat_ids else 0.0
        for name in timed:
            stats = latency_stats(seconds[name]).to_dict()
            results[name].latency[str(size)] = {**stats, "candidates": mean_n}


def _timed_call(arm: Reranker, query: str, docs: list[str]) -> float:
    """Seconds for one ``score`` call; a call under 1 s is the median of 5, so a busy
    machine's hiccup does not decide a fast arm's figure (a slow arm is timed once)."""
    times: list[float] = []
    while len(times) < 5 and (not times or times[0] < 1.0):
        start = time.perf_counter()
        arm.score(query, docs)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _compare(results: dict[str, RerankArm], boot: dict[str, Any]) -> list[Comparison]:
    pairs = [(a, "teacher") for a in results if a not in ("teacher", FIRST_STAGE)]
    if "student" in results:
        pairs.append(("student", FIRST_STAGE))
        if "baseline" in results:
            pairs.append(("student", "baseline"))
    pairs.append(("teacher", FIRST_STAGE))
    out = []
    for arm, ref in pairs:
        for metric, values in results[arm].per_query.items():
            ci = paired_bootstrap(results[ref].per_query[metric], values, **boot)
            out.append(Comparison(metric, arm, ref, ci.mean, ci.low, ci.high, ci.confidence))
    return out


def _model_name(arm: Reranker) -> str | None:
    model = getattr(arm, "model", None)
    return str(model) if isinstance(model, str | Path) else None


def _model_dir(arm: Reranker) -> Path | None:
    name = _model_name(arm)
    if name is None:
        return None
    if not Path(name).is_dir():
        from ragdistill.hf._loading import _resolve

        try:
            name = _resolve(name)
        except Exception:  # an unknown name: no folder to measure
            return None
    return Path(name) if Path(name).is_dir() else None


def _parameters(arm: Reranker) -> int | None:
    """Weights of the torch modules an arm has loaded (searched one attribute deep)."""
    seen: set[int] = set()
    total = 0
    for value in _modules_of(arm):
        for p in value.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                total += p.numel()
    return total or None


def _modules_of(obj: Any, depth: int = 0) -> list[Any]:
    if hasattr(obj, "parameters") and callable(obj.parameters) and hasattr(obj, "named_modules"):
        return [obj]
    if depth > 2:
        return []
    found = []
    values = list(vars(obj).values()) if hasattr(obj, "__dict__") else []
    for value in values:
        if type(value).__name__ == "Lazy":
            value = value._value  # loaded already by the scoring above, never loaded here
        if isinstance(value, tuple | list):
            for item in value:
                found += _modules_of(item, depth + 1)
        elif value is not None and not isinstance(value, str | int | float | dict):
            found += _modules_of(value, depth + 1)
    return found
