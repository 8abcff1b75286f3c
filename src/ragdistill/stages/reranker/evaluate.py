"""Evaluation of a reranker distillation: during training, and the A/B that follows it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragdistill.artifacts import update_metrics
from ragdistill.loading import load_component
from ragdistill.recipes import Recipe

if TYPE_CHECKING:
    from ragdistill.stages.reranker.setup import RerankSetup

EVAL_QUERIES = 32


def make_evaluator(model: Any, setup: RerankSetup, *, k: int) -> Any:
    """Student vs teacher on held-out judged queries' candidates, cheap enough to repeat.

    Reports the student's and the teacher's nDCG@10 and their agreement (Kendall's tau,
    top-10 overlap), from the teacher's cached scores.
    """
    import torch

    from ragdistill.evaluation.retrieval import ndcg_at_k, overlap_at_k
    from ragdistill.stages.reranker.ab import doc_ranking, kendall_tau

    lists = dict(list(setup.eval_lists(k).items())[:EVAL_QUERIES])
    if not lists:
        return None
    queries = {q: setup.dataset.queries[q] for q in lists}
    teacher = setup.cached.scores_grouped(
        [[(queries[q], p.text) for p in ps] for q, ps in lists.items()]
    )
    t_rank = [doc_ranking(ps, s) for ps, s in zip(lists.values(), teacher)]
    qrels = [setup.dataset.qrels.get(q, {}) for q in lists]

    def evaluate() -> dict[str, float]:
        student = []
        with torch.no_grad():
            for q, ps in lists.items():
                out = model([(queries[q], [p.text for p in ps])])
                student.append(out[0].float().cpu().numpy())
        s_rank = [doc_ranking(ps, s) for ps, s in zip(lists.values(), student)]
        return {
            "ndcg@10": float(np.mean([ndcg_at_k(r, g, 10) for r, g in zip(s_rank, qrels)])),
            "teacher_ndcg@10": float(np.mean([ndcg_at_k(r, g, 10) for r, g in zip(t_rank, qrels)])),
            "kendall_tau": float(np.mean([kendall_tau(t, s) for t, s in zip(teacher, student)])),
            "overlap@10": float(np.mean([overlap_at_k(t, s, 10) for t, s in zip(t_rank, s_rank)])),
        }

    return evaluate


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
