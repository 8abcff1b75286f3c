"""The A/B that follows a query-transformer distillation, and the one the CLI runs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ragdistill.artifacts import update_metrics
from ragdistill.loading import load_component, resolve_runtime
from ragdistill.recipes import Recipe
from ragdistill.stages.query_transformer.ab_result import QueryABResult


def evaluate_arms(
    examples: list[Any],
    models: dict[str, Any],
    *,
    dataset: Any,
    embedder: Any,
    out: Path,
    task: str,
    num_queries: int,
    spec: Any,
    teacher_store: Any = None,
    teacher_requests: Any = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    notes: list[str] | None = None,
    show_progress: bool = True,
) -> Path:
    """Run every arm, write ``out/ab.json`` and ``out/report.html``; return the report."""
    from ragdistill.stages.query_transformer.ab import run_query_ab
    from ragdistill.stages.query_transformer.ab_report import write_report
    from ragdistill.stages.query_transformer.ab_result import build_result
    from ragdistill.stages.query_transformer.retrieval import CorpusSearch

    out.mkdir(parents=True, exist_ok=True)
    search = CorpusSearch(dataset, embedder, out / "index", depth=spec.depth, rrf_k=spec.rrf_k,
                          show_progress=show_progress)  # fmt: skip
    runs, scores = run_query_ab(
        examples, models, search, task=task, num_queries=num_queries,
        fuse_original=spec.fuse_original, store_root=out / "outputs",
        teacher_store=teacher_store, teacher_requests=teacher_requests,
        latency_queries=spec.latency_queries, show_progress=show_progress,
    )  # fmt: skip
    describe = {n: m.describe() for n, m in models.items()}
    describe["retrieval"] = {"embedder": embedder.describe(), "depth": spec.depth,
                             "rrf_k": spec.rrf_k, "fuse_original": spec.fuse_original}  # fmt: skip
    if teacher_store is not None and "teacher" in runs and runs["teacher"].cached:
        notes = [*(notes or []), "The teacher's outputs come from its distillation store (the "
                 "same prompts, greedy); its latency was measured live on the timed queries."]  # fmt: skip
    result = build_result(examples, runs, scores, task=task, num_queries=num_queries,
                          dataset=dataset.stats(), describe=describe, n_bootstrap=n_bootstrap,
                          seed=seed, notes=notes)  # fmt: skip
    result.to_json(out / "ab.json")
    return write_report(result, out / "report.html")


def ab_for_query_recipe(recipe: Recipe, artifact: Path, *, show_progress: bool = True) -> Path:
    """Retrieve for the held-out queries with every arm; write ``ab.json`` and
    ``report.html`` under the run's ``ab/``; headline numbers go into the manifest.

    The teacher's outputs come from its labelling store (the requests match exactly);
    the student and the baseline load through the recipe's ``[runtime]``.
    """
    from ragdistill.config import build
    from ragdistill.registry import default_registry
    from ragdistill.stages.query_transformer.setup import prepare

    output = Path(recipe.output)
    setup = prepare(recipe, show_progress=show_progress)
    runtime = resolve_runtime(recipe.runtime.backend, recipe.runtime.options)
    models: dict[str, Any] = {
        "teacher": setup.teacher,
        "student": load_component(artifact, "query_transformer", runtime=runtime),
    }
    baseline = output / "baseline"
    if recipe.evaluate.baseline and baseline.is_dir():
        models["baseline"] = load_component(baseline, "query_transformer", runtime=runtime)
    spec = setup.options.ab
    embedder = build(default_registry().teacher("embedder", spec.embedder.kind),
                     spec.embedder.options, "query_transformer.ab.embedder")  # fmt: skip
    report = evaluate_arms(
        setup.eval, models, dataset=setup.dataset, embedder=embedder, out=output / "ab",
        task=setup.options.task, num_queries=setup.num_queries, spec=spec,
        teacher_store=setup.store,
        teacher_requests=lambda exs: [setup.teacher_request(e) for e in exs],
        n_bootstrap=recipe.evaluate.bootstrap, seed=recipe.train.seed,
        show_progress=show_progress,
    )  # fmt: skip
    update_metrics(artifact, headline(QueryABResult.from_json(report.parent / "ab.json")))
    return report


def headline(result: QueryABResult) -> dict[str, Any]:
    """The numbers a manifest keeps: the student's metrics, its share of the teacher's
    lift, and its speed relative to the teacher's."""
    out: dict[str, Any] = {}
    student, teacher = result.arms.get("student"), result.arms.get("teacher")
    if student is None:
        return out
    for metric, value in student["metrics"].items():
        out[f"ab/{metric}"] = value
        share = result.shares.get("student", {}).get(metric, {}).get("mean")
        if isinstance(share, float) and math.isfinite(share):
            out[f"ab/{metric}_share_of_teacher_lift"] = share
    s, t = student.get("speed") or {}, (teacher or {}).get("speed") or {}
    if s.get("p50_ms") and t.get("p50_ms"):
        out["ab/speedup_p50"] = t["p50_ms"] / s["p50_ms"]
    return out
