"""Evaluation of a reranker distillation: during training, and the A/B that follows it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragdistill.artifacts import update_metrics
from ragdistill.distill.dev_split import check_dev_metric, teacher_agreement
from ragdistill.loading import load_component
from ragdistill.recipes import Recipe

if TYPE_CHECKING:
    from ragdistill.recipes.schema import TrainSpec
    from ragdistill.stages.reranker.setup import RerankSetup

#: What evaluation during training reports, on the dev split only.
DEV_METRICS = ("dev/ndcg@10", "dev/kendall_tau", "dev/overlap@10")
#: Dev queries scored per forward pass (lists of the same length only).
DEV_BATCH = 8


def check_dev_options(spec: TrainSpec) -> None:
    """Refuse a best-metric selection the reranker cannot evaluate (``distill --check``)."""
    check_dev_metric(spec, DEV_METRICS, stage="the reranker")


def make_evaluator(
    model: Any, setup: RerankSetup, *, k: int
) -> Callable[[], dict[str, float]] | None:
    """Label-free agreement with the teacher on the dev split, cheap enough to repeat.

    Each dev query's top ``k`` first-stage candidates are reranked by the student and
    compared with the teacher's order of them, read from its score cache:
    ``dev/ndcg@10`` and ``dev/overlap@10`` (documents, as the embedder's dev split
    scores them, :func:`~ragdistill.distill.dev_split.teacher_agreement`) and Kendall's
    tau of the scores. Dev queries are training-side queries held out of training; the
    evaluated queries and their judgements are never read. None without a dev split.
    """
    import torch

    from ragdistill.stages.reranker.ab import doc_ranking, kendall_tau

    lists = setup.dev_lists(k)
    if not lists:
        return None
    teacher = setup.cached.scores_grouped([[(q, p.text) for p in ps] for q, ps in lists])
    t_rank = [doc_ranking(ps, s) for (_, ps), s in zip(lists, teacher)]
    by_width: dict[int, list[int]] = {}
    for i, (_, ps) in enumerate(lists):
        by_width.setdefault(len(ps), []).append(i)
    batches = [ids[j : j + DEV_BATCH] for ids in by_width.values()
               for j in range(0, len(ids), DEV_BATCH)]  # fmt: skip

    def evaluate() -> dict[str, float]:
        student: list[Any] = [None] * len(lists)
        with torch.no_grad():
            for batch in batches:
                out = model([(lists[i][0], [p.text for p in lists[i][1]]) for i in batch])
                for i, row in zip(batch, out.float().cpu().numpy()):
                    student[i] = row
        s_rank = [doc_ranking(ps, s) for (_, ps), s in zip(lists, student)]
        metrics = teacher_agreement(s_rank, t_rank)
        tau = float(np.mean([kendall_tau(t, s) for t, s in zip(teacher, student)]))
        return {m: tau if m == "dev/kendall_tau" else metrics[m] for m in DEV_METRICS}

    return evaluate


def dev_summary(setup: RerankSetup, spec: TrainSpec, *, k: int) -> dict[str, Any]:
    """What ``dev_split.json`` records, so a user sees what was held out."""
    lists = setup.dev_lists(k)
    return {
        "eval_fraction": spec.eval_fraction,
        "seed": spec.seed,
        "source": "training queries (unjudged queries and document titles)",
        "dev_queries": len(lists),
        "candidates_per_query": max((len(ps) for _, ps in lists), default=0),
        "metrics": list(DEV_METRICS),
        "queries": [q for q, _ in lists],
    }


def ab_for_reranker_recipe(recipe: Recipe, artifact: Path, *, show_progress: bool = True) -> Path:
    """Rerank the held-out queries' fixed candidates with every arm; write JSON and HTML.

    Arms: the teacher (quality from its score cache, latency on the teacher itself),
    the student, the student before distillation (``evaluate.baseline``) and the first
    stage's own order. The student and the baseline load through the recipe's
    ``[runtime]``. Returns the HTML report's path; headline numbers go into the
    artifact's manifest.
    """
    from ragdistill.stages.reranker.ab import run_rerank_ab
    from ragdistill.stages.reranker.ab_report import write_rerank_report
    from ragdistill.stages.reranker.setup import prepare

    output = Path(recipe.output)
    setup = prepare(recipe, show_progress=show_progress, train=False)
    arms: dict[str, Any] = {
        "teacher": setup.teacher,
        "student": load_component(artifact, "reranker", runtime=setup.runtime),
    }
    baseline_dir = output / "baseline"
    if recipe.evaluate.baseline and baseline_dir.is_dir():
        arms["baseline"] = load_component(baseline_dir, "reranker", runtime=setup.runtime)
    result = run_rerank_ab(
        setup.dataset,
        setup.candidates.eval,
        arms,
        k=recipe.evaluate.k,
        quality_scorers={"teacher": setup.cached},
        first_stage=setup.first_stage,
        latency_candidates=recipe.evaluate.latency_candidates,
        latency_queries=recipe.evaluate.latency_queries,
        n_bootstrap=recipe.evaluate.bootstrap,
        seed=recipe.train.seed,
        show_progress=show_progress,
    )
    out = output / "ab"
    out.mkdir(parents=True, exist_ok=True)
    result.to_json(out / "ab.json")
    report = write_rerank_report(result, out / "report.html")
    update_metrics(artifact, headline(json.loads((out / "ab.json").read_text())))
    return report


def headline(ab: dict[str, Any]) -> dict[str, Any]:
    """The numbers a manifest keeps: quality vs teacher and first stage, speedups."""
    arms = ab["arms"]
    out: dict[str, Any] = {}
    for metric, value in arms["student"]["metrics"].items():
        out[f"ab/{metric}"] = value
        for ref in ("teacher", "first_stage"):
            ref_value = arms[ref]["metrics"].get(metric)
            if ref_value:
                out[f"ab/{metric}_vs_{ref}"] = value / ref_value
    tau = arms["student"]["agreement"].get("kendall_tau")
    if tau:
        out["ab/kendall_tau"] = tau["mean"]
    for size, stats in arms["student"]["latency"].items():
        t = arms["teacher"]["latency"].get(size, {}).get("p50_ms")
        if t and stats.get("p50_ms"):
            out[f"ab/speedup@{size}"] = t / stats["p50_ms"]
    return out
