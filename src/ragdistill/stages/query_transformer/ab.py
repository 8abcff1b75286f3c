"""The query-transformer A/B: every arm's queries, retrieved with one fixed embedder.

Arms: ``raw`` (the user's query as typed), ``history`` (for conversations: the earlier
user turns and the query joined, the naive fix), ``teacher``, ``student``, ``baseline``
(the student before distillation) and ``gold`` (for conversations: the original
stand-alone question, the ceiling). A model arm's outputs are kept in a store per arm
(keyed by its description and files), so an interrupted A/B resumes; an output that
parses to nothing is counted as malformed and falls back to the raw query, as the
:class:`~ragdistill.contracts.QueryTransformer` contract does. Latency is measured live,
one query per call, on the same evaluated queries for every model arm.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragdistill.contracts import GenerationRequest, PromptedQueryTransformer, QueryRequest
from ragdistill.evaluation.measure import folder_size_bytes, latency_stats, peak_memory_during
from ragdistill.evaluation.retrieval import ndcg_at_k, recall_at_k
from ragdistill.generation.asking import arm_store, ask
from ragdistill.generation.store import GenerationStore
from ragdistill.stages.query_transformer.data import QueryExample
from ragdistill.stages.query_transformer.retrieval import CorpusSearch

#: Per-query metrics every arm is scored on.
METRICS = ("recall@10", "recall@100", "ndcg@10")


@dataclass
class ArmRun:
    """One arm's outputs on the evaluated examples and what running it cost."""

    outputs: list[list[str]]
    malformed: int
    cached: bool = False
    speed: dict[str, Any] | None = None


def model_outputs(
    arm: Any,
    examples: list[QueryExample],
    num_queries: int,
    store: GenerationStore | None,
    *,
    requests: list[GenerationRequest] | None = None,
    show_progress: bool = True,
    name: str = "arm",
) -> ArmRun:
    """``arm``'s queries per example: its stored generations parsed (a prompted arm), or
    its ``transform_batch`` (any other); empty results count as malformed."""
    reqs = [e.request(num_queries) for e in examples]
    if isinstance(arm, PromptedQueryTransformer) and store is not None:
        asked = requests or [arm.generation_request(r) for r in reqs]
        keys, fill = ask(arm.generator, asked, store, show_progress=show_progress,
                         desc=f"{name} queries")  # fmt: skip
        parsed = [arm.parse(g.text, r) for g, r in zip(store.get(keys), reqs)]
        cached = fill.computed == 0
    else:
        parsed = []
        size = max(1, getattr(arm, "batch_size", 8))
        for start in range(0, len(reqs), size):
            parsed.extend(arm.transform_batch(reqs[start : start + size]))
        cached = False
    outputs, malformed = [], 0
    for example, found in zip(examples, parsed):
        kept = [q.strip() for q in found if q and q.strip()][: max(1, num_queries)]
        if not kept:
            malformed += 1
            kept = [example.query]
        outputs.append(kept)
    return ArmRun(outputs, malformed, cached)


def search_texts(example: QueryExample, outputs: list[str], *, fuse_original: bool,
                 expand: bool) -> list[str]:  # fmt: skip
    """What is searched for one example: the outputs, after the raw query for an expansion."""
    if expand and fuse_original:
        return [example.query, *(q for q in outputs if q != example.query)]
    return outputs


def fixed_arms(examples: list[QueryExample]) -> dict[str, list[list[str]]]:
    """The arms that need no model: raw, and for conversations history and gold."""
    arms = {"raw": [[e.query] for e in examples]}
    if any(e.history for e in examples):
        arms["history"] = [
            [" ".join([*(m.content for m in e.history if m.role == "user"), e.query])]
            for e in examples
        ]
    if all(e.gold for e in examples):
        arms["gold"] = [[e.gold or e.query] for e in examples]
    return arms


def score(examples: list[QueryExample], rankings: list[list[str]]) -> dict[str, list[float]]:
    """Each metric of :data:`METRICS` per example."""
    out: dict[str, list[float]] = {m: [] for m in METRICS}
    for example, ranking in zip(examples, rankings):
        out["recall@10"].append(recall_at_k(ranking, example.targets, 10))
        out["recall@100"].append(recall_at_k(ranking, example.targets, 100))
        out["ndcg@10"].append(ndcg_at_k(ranking, example.targets, 10))
    return out


def measure_latency(arm: Any, requests: list[QueryRequest]) -> dict[str, Any]:
    """Per-query latency (one query per call, as a live service sees it), throughput in
    one batched call, the memory those calls allocated, the model's size."""
    if not requests:
        return {}
    arm.transform_many(requests[:1])  # warm-up: lazy loading stays out of the numbers

    def run() -> tuple[list[float], float]:
        seconds = []
        for req in requests:
            start = time.perf_counter()
            arm.transform_many([req])
            seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        arm.transform_many(requests)
        return seconds, time.perf_counter() - start

    (seconds, batched), peak = peak_memory_during(run)
    stats = latency_stats(seconds)
    folder = getattr(arm, "model", None)
    return {
        "p50_ms": stats.p50_ms,
        "p95_ms": stats.p95_ms,
        "mean_ms": 1000 * sum(seconds) / len(seconds),
        "throughput_qps": len(requests) / batched if batched > 0 else None,
        "peak_memory_bytes": peak,
        "parameters": parameter_count(arm),
        "size_bytes": folder_size_bytes(folder) if isinstance(folder, str) else None,
        "n": len(requests),
    }


def parameter_count(arm: Any) -> int | None:
    """Weights of the arm's model (a causal LM's or a seq2seq model's), if it loaded one."""
    module = None
    lm = getattr(getattr(arm, "generator", None), "lm", None)
    if lm is not None:
        module = getattr(lm, "model", None)
    loaded = getattr(arm, "_loaded", None)
    if module is None and loaded is not None and getattr(loaded, "value", None) is not None:
        module = loaded.value[0]
    if module is None or not hasattr(module, "parameters"):
        return None
    return sum(int(p.numel()) for p in module.parameters())


def run_query_ab(
    examples: list[QueryExample],
    models: Mapping[str, Any],
    search: CorpusSearch,
    *,
    task: str,
    num_queries: int,
    fuse_original: bool,
    store_root: Path,
    teacher_store: GenerationStore | None = None,
    teacher_requests: Callable[[list[QueryExample]], list[GenerationRequest]] | None = None,
    latency_queries: int = 40,
    show_progress: bool = True,
) -> tuple[dict[str, ArmRun], dict[str, dict[str, list[float]]]]:
    """Every arm's outputs and per-example metrics (the result is built from these)."""
    runs = {name: ArmRun(out, 0) for name, out in fixed_arms(examples).items()}
    timed = [e.request(num_queries) for e in examples[:latency_queries]]
    for name, arm in models.items():
        teacher = name == "teacher" and teacher_store is not None
        store = teacher_store if teacher else _store_for(arm, store_root)
        asked = teacher_requests(examples) if teacher and teacher_requests else None
        run = model_outputs(arm, examples, num_queries, store, requests=asked,
                            show_progress=show_progress, name=name)  # fmt: skip
        run.speed = measure_latency(arm, timed)
        runs[name] = run
    expand = task == "expand"
    scores = {}
    for name, run in runs.items():
        texts = [search_texts(e, out, fuse_original=fuse_original, expand=expand)
                 for e, out in zip(examples, run.outputs)]  # fmt: skip
        scores[name] = score(examples, search.rank(texts))
    return runs, scores


def _store_for(arm: Any, root: Path) -> GenerationStore | None:
    if not isinstance(arm, PromptedQueryTransformer):
        return None
    return arm_store(arm.generator, root)
