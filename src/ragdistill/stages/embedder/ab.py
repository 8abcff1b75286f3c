"""Run the same queries through the teacher's and the student's retrieval and compare.

Each arm gets its own Chroma collection (named after the dataset's and the embedder's
fingerprints, so a rerun reuses a finished index and resumes an interrupted one).
Queries are searched one at a time so latency is per query, as a service sees it.
"""

from __future__ import annotations

import logging
import re
import statistics
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from ragdistill.ab.result import Comparison
from ragdistill.contracts import Embedder
from ragdistill.datasets import RetrievalDataset
from ragdistill.errors import ConfigError
from ragdistill.evaluation.bootstrap import bootstrap_mean, paired_bootstrap
from ragdistill.evaluation.measure import (
    encode_throughput,
    folder_size_bytes,
    interleaved_rounds,
    latency_stats,
    parameter_count,
    peak_memory_during,
    timed_search,
    weights_bytes,
)
from ragdistill.evaluation.retrieval import evaluate_run, overlap_at_k
from ragdistill.stages.embedder.ab_result import ABResult, ArmResult

log = logging.getLogger(__name__)


#: Names the A/B gives its own arms; a reference or candidate may not take one.
RESERVED_ARMS = ("teacher", "student", "baseline")


def run_retrieval_ab(
    dataset: RetrievalDataset,
    teacher: Embedder,
    student: Embedder,
    *,
    baseline: Embedder | None = None,
    references: Mapping[str, Embedder] | None = None,
    **options: Any,
) -> ABResult:
    """Compare ``student`` (and ``baseline``, the student before distillation) to ``teacher``.

    ``references`` are the alternatives a user would otherwise pick (an off-the-shelf
    small model, the student's own unpruned starting model): each is an arm of its own,
    compared with the teacher and the student with it, so the report shows whether
    distillation beat what could simply be downloaded. Options are those of
    :func:`run_arms`.
    """
    arms: dict[str, Embedder] = {"teacher": teacher, "student": student}
    roles = {"teacher": "teacher", "student": "student"}
    pairs = [("student", "teacher")]
    if baseline is not None:
        arms["baseline"], roles["baseline"] = baseline, "baseline"
        pairs += [("student", "baseline"), ("baseline", "teacher")]
    for name, embedder in (references or {}).items():
        _check_arm_name(name, arms, "reference")
        arms[name], roles[name] = embedder, "reference"
        pairs += [(name, "teacher"), ("student", name)]
    return run_arms(dataset, arms, roles=roles, pairs=pairs, **options)


def run_arms(
    dataset: RetrievalDataset,
    arms: Mapping[str, Embedder],
    *,
    roles: Mapping[str, str] | None = None,
    pairs: Sequence[tuple[str, str]] = (),
    control: str = "teacher",
    index_dir: Path | str | None = None,
    k: int = 100,
    index_embedders: Mapping[str, Embedder] | None = None,
    cutoffs: Sequence[int] = (10, 100),
    max_queries: int | None = None,
    chroma_host: str | None = None,
    chroma_port: int | None = None,
    rebuild: bool = False,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    throughput_texts: int = 256,
    throughput_repeats: int = 1,
    throughput_rounds: int = 3,
    batch_size: int = 32,
    warmup: int = 2,
    show_progress: bool = True,
) -> ABResult:
    """Run every arm over the same queries, side by side in one process, and compare.

    Metrics (nDCG, Recall, MRR at each cutoff <= ``k``) need qrels; without them only
    the top-k agreement with ``control`` is reported. Each ``(arm, reference)`` of
    ``pairs`` gets a paired bootstrap CI over queries of ``arm - reference``.
    Efficiency: per-query latency p50/p95 (encode and search, measured as each arm's
    queries run), encode throughput on a fixed set of passages and on the queries,
    model folder size, parameter count, the bytes of the weights in memory, and the
    peak memory growth while encoding. Throughput is measured once every arm is indexed,
    in ``throughput_rounds`` rounds that visit the arms in turn (each value the best of
    ``throughput_repeats`` passes); the median round counts and every round is kept.

    ``index_embedders`` maps an arm name to the embedder that builds its index only,
    e.g. the teacher behind its output cache so its corpus embeddings are not computed
    twice; it must describe itself as the arm's embedder does. Queries, latency and
    throughput always go through the arm's own embedder.
    """
    from ragdistill.index import ChromaIndex, embedder_fingerprint, model_dir_of

    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    if throughput_rounds < 1 or throughput_repeats < 1:
        raise ConfigError(
            "throughput_rounds and throughput_repeats must be >= 1, got "
            f"{throughput_rounds} and {throughput_repeats}"
        )
    if control not in arms:
        raise ConfigError(f"the control arm {control!r} is not among the arms {sorted(arms)}")
    for arm, ref in pairs:
        if arm not in arms or ref not in arms:
            raise ConfigError(f"cannot compare {arm!r} with {ref!r}: arms are {sorted(arms)}")
    if max_queries is not None:
        dataset = dataset.subset(max_queries=max_queries)
    query_ids = dataset.evaluable_query_ids() if dataset.has_qrels else list(dataset.queries)
    if not query_ids:
        raise ConfigError(
            f"dataset {dataset.name!r} has no queries to run; an A/B needs queries "
            "(for a text folder, add a queries.txt with one query per line)"
        )
    cuts = sorted({c for c in cutoffs if c <= k}) or [k]
    passages = dataset.passages()
    texts = [dataset.queries[q] for q in query_ids]
    sample = [p.text for p in passages[:throughput_texts]]
    ds_fp = dataset.fingerprint()
    results: dict[str, ArmResult] = {}
    rankings: dict[str, list[list[tuple[str, float]]]] = {}
    for number, (name, embedder) in enumerate(arms.items(), 1):
        log.info("arm %d of %d: %s", number, len(arms), name)
        fp = embedder_fingerprint(embedder)
        collection = f"ab-{_slug(dataset.name)}-{ds_fp[:8]}-{fp[:16]}"
        builder = (index_embedders or {}).get(name, embedder)
        index = ChromaIndex(
            builder, collection=collection, path=index_dir, host=chroma_host, port=chroma_port,
            rebuild=rebuild, batch_size=max(batch_size, 64), show_progress=show_progress,
        )  # fmt: skip
        start = time.perf_counter()
        stats = index.add(passages, sync=True)
        index_s = time.perf_counter() - start
        index.embedder = embedder  # searched (and timed) with the arm's own embedder
        log.info("%s: indexed %s in %.1fs", name, stats, index_s)
        cache_use = {}
        reused, computed = getattr(builder, "reused", None), getattr(builder, "computed", None)
        if builder is not embedder and reused is not None:
            # What building the index through the cache cost: read back or computed.
            cache_use = {"cache_reused": reused, "cache_computed": computed}
        timed = timed_search(index, texts, k, warmup=warmup)
        rankings[name] = timed.results
        model_dir = model_dir_of(embedder)
        results[name] = ArmResult(
            name=name,
            role=(roles or {}).get(name, "candidate"),
            embedder=embedder.describe(),
            fingerprint=fp,
            collection=collection,
            model=_model_name(embedder, model_dir),
            latency={
                "encode": latency_stats(timed.encode_s).to_dict(),
                "search": latency_stats(timed.search_s).to_dict(),
                "total": latency_stats(timed.total_s).to_dict(),
            },
            latency_ms=[t * 1000 for t in timed.total_s],
            model_size_bytes=folder_size_bytes(model_dir),
            parameters=parameter_count(embedder),
            weights_bytes=weights_bytes(embedder),
            index_seconds=index_s,
            index_stats={"embedded": stats.embedded, "unchanged": stats.unchanged,
                         "deleted": stats.deleted, "passages": len(passages), **cache_use},
            outputs_cached=builder is not embedder,
        )  # fmt: skip
    # Speed last, every arm loaded and indexed, in interleaved rounds: see interleaved_rounds.
    log.info("encode speed: %d rounds over %d arms", throughput_rounds, len(arms))
    speeds = _measure_speed(
        arms, sample, texts[:throughput_texts], rounds=throughput_rounds,
        repeats=throughput_repeats, batch_size=batch_size, show_progress=show_progress,
    )  # fmt: skip
    for name, (passage_rounds, query_rounds, peak) in speeds.items():
        done = results[name]
        done.throughput_rounds, done.query_throughput_rounds = passage_rounds, query_rounds
        done.throughput_texts_per_s = statistics.median(passage_rounds)
        done.query_throughput_per_s = statistics.median(query_rounds)
        done.peak_memory_bytes = peak
    boot = {"n_resamples": n_bootstrap, "confidence": confidence, "seed": seed}
    if dataset.has_qrels:
        _score(dataset, query_ids, rankings, results, cuts, boot)
    comparisons = _compare(results, pairs, boot) if dataset.has_qrels else []
    agreement = _agreement(rankings, control, cuts, boot)
    return ABResult(
        dataset={**dataset.stats(), "fingerprint": ds_fp, "passages": len(passages)},
        settings={"k": k, "cutoffs": cuts, "n_bootstrap": n_bootstrap, "confidence": confidence,
                  "seed": seed, "throughput_texts": len(sample), "batch_size": batch_size,
                  "throughput_repeats": throughput_repeats,
                  "throughput_rounds": throughput_rounds, "control": control,
                  "warmup": warmup, "chroma": chroma_host or str(index_dir or "default")},
        query_ids=query_ids,
        arms=results,
        comparisons=comparisons,
        agreement=agreement,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )  # fmt: skip


def _measure_speed(
    arms: Mapping[str, Embedder],
    passages: Sequence[str],
    queries: Sequence[str],
    *,
    rounds: int,
    repeats: int,
    batch_size: int,
    show_progress: bool = False,
) -> dict[str, tuple[list[float], list[float], int | None]]:
    """Per arm: passages/s and queries/s of every round, and the peak memory growth of
    one untimed pass over the passages (measuring memory costs time of its own)."""
    from tqdm.auto import tqdm

    warm: set[str] = set()
    # A teacher's passes take minutes on a CPU: the bar counts memory passes and rounds.
    bar = tqdm(total=len(arms) * (rounds + 1), desc="encode speed", unit="pass",
               disable=not show_progress)  # fmt: skip

    def memory(embedder: Embedder) -> int | None:
        _, peak = peak_memory_during(
            partial(embedder.embed_many, list(passages), batch_size=batch_size)
        )
        bar.update()
        return peak

    def measure(name: str, embedder: Embedder) -> tuple[float, float]:
        # The memory pass warmed the passage path; queries warm up in the first round only.
        encode = partial(encode_throughput, embedder, batch_size=batch_size, repeats=repeats)
        speeds = encode(passages, warmup=False), encode(queries, input_type="query",
                                                        warmup=name not in warm)  # fmt: skip
        warm.add(name)
        bar.update()
        return speeds

    with bar:  # closed on error as well
        peaks = {name: memory(embedder) for name, embedder in arms.items()}
        measured = interleaved_rounds(
            {name: partial(measure, name, embedder) for name, embedder in arms.items()}, rounds
        )
    return {
        name: ([p for p, _ in values], [q for _, q in values], peaks[name])
        for name, values in measured.items()
    }


def reference_name(spec: str) -> str:
    """The arm name of a reference given as a model name, folder or ``KIND:MODEL``."""
    _kind, sep, model = spec.partition(":")
    name = model if sep and not Path(spec).exists() else spec
    return Path(name.rstrip("/\\")).name or name


def _check_arm_name(name: str, arms: Mapping[str, Any], what: str) -> None:
    if name in RESERVED_ARMS or name in arms:
        raise ConfigError(
            f"a {what} arm cannot be named {name!r}: that name is taken "
            f"({', '.join(sorted({*RESERVED_ARMS, *arms}))}); give it another name"
        )


def _score(
    dataset: RetrievalDataset,
    query_ids: list[str],
    rankings: dict[str, list[list[tuple[str, float]]]],
    results: dict[str, ArmResult],
    cuts: list[int],
    boot: dict[str, Any],
) -> None:
    qrels = {q: dataset.qrels[q] for q in query_ids}
    for name, ranked in rankings.items():
        scores = evaluate_run(dict(zip(query_ids, ranked)), qrels, cutoffs=cuts)
        arm = results[name]
        for metric, per_query in scores.items():
            values = [per_query[q] for q in query_ids]
            ci = bootstrap_mean(values, **boot)
            arm.per_query[metric] = values
            arm.metrics[metric] = ci.mean
            arm.metric_ci[metric] = [ci.low, ci.high]


def _compare(
    results: dict[str, ArmResult], pairs: Sequence[tuple[str, str]], boot: dict[str, Any]
) -> list[Comparison]:
    out = []
    for arm, ref in pairs:
        for metric, values in results[arm].per_query.items():
            ci = paired_bootstrap(results[ref].per_query[metric], values, **boot)
            out.append(Comparison(metric, arm, ref, ci.mean, ci.low, ci.high, ci.confidence))
    return out


def _agreement(
    rankings: dict[str, list[list[tuple[str, float]]]],
    control: str,
    cuts: list[int],
    boot: dict[str, Any],
) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, ranked in rankings.items():
        if name == control:
            continue
        out[name] = {}
        for c in cuts:
            values = [overlap_at_k(a, b, c) for a, b in zip(rankings[control], ranked)]
            ci = bootstrap_mean(values, **boot)
            out[name][f"overlap@{c}"] = {"mean": ci.mean, "low": ci.low, "high": ci.high}
    return out


def _model_name(embedder: Embedder, model_dir: Path | None) -> str | None:
    model = getattr(embedder, "model", None)
    if isinstance(model, str | Path):
        return str(model)
    return str(model_dir) if model_dir is not None else None


def _slug(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", name).strip("-")[:40] or "dataset"
