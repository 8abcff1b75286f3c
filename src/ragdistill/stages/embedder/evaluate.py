"""The A/B evaluation that follows a distillation: teacher vs student vs baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ragdistill.artifacts import update_metrics
from ragdistill.loading import load_arm, load_component, resolve_runtime
from ragdistill.recipes import Recipe
from ragdistill.stages.embedder.ab_result import ABResult


def ab_for_recipe(recipe: Recipe, artifact: Path, *, show_progress: bool = True) -> Path:
    """Index the recipe's dataset with each arm, compare them, write JSON and HTML.

    The teacher's index is built through its output cache (the distillation already
    embedded the corpus); its query latency and throughput are measured on the teacher
    itself. The student and the baseline load through the recipe's ``[runtime]``.
    Returns the HTML report's path; headline numbers go into the manifest.
    """
    from ragdistill.config import build
    from ragdistill.distill.cached_teacher import CachedEmbedder
    from ragdistill.registry import default_registry
    from ragdistill.stages.embedder.ab import reference_name, run_retrieval_ab
    from ragdistill.stages.embedder.ab_report import write_html_report

    registry = default_registry()
    output = Path(recipe.output)
    runtime = resolve_runtime(recipe.runtime.backend, recipe.runtime.options)
    dataset = build(registry.dataset(recipe.data.dataset), recipe.data.options, "data").load()
    teacher_cls = registry.teacher("embedder", recipe.teacher.kind)
    teacher = build(teacher_cls, recipe.teacher.options, "teacher")
    cache_root = Path(recipe.cache_dir) if recipe.cache_dir else None
    student = load_component(artifact, "embedder", runtime=runtime)
    baseline_dir = output / "baseline"
    baseline = None
    if recipe.evaluate.baseline and baseline_dir.is_dir():
        baseline = load_component(baseline_dir, "embedder", runtime=runtime)
    references = {
        reference_name(spec): load_arm(spec, stage="embedder", runtime=runtime)
        for spec in reference_specs(recipe)
    }
    result = run_retrieval_ab(
        dataset,
        teacher,
        student,  # type: ignore[arg-type]
        baseline=baseline,  # type: ignore[arg-type]
        references=references,
        index_embedders={"teacher": CachedEmbedder(teacher, root=cache_root)},
        index_dir=output / "index",
        k=recipe.evaluate.k,
        max_queries=recipe.evaluate.max_queries,
        n_bootstrap=recipe.evaluate.bootstrap,
        throughput_repeats=recipe.evaluate.throughput_repeats,
        throughput_rounds=recipe.evaluate.throughput_rounds,
        seed=recipe.train.seed,
        show_progress=show_progress,
    )
    out = output / "ab"
    out.mkdir(parents=True, exist_ok=True)
    result.to_json(out / "ab.json")
    report = out / "report.html"
    write_html_report(result, report)
    update_metrics(artifact, headline(json.loads((out / "ab.json").read_text())))
    return report


def reference_specs(recipe: Recipe) -> list[str]:
    """The recipe's reference arms: ``[evaluate] references``, or by default the student's
    own starting model as downloaded, when the student changes it (prunes layers or
    projects to fewer dimensions): what a user would otherwise have run."""
    if recipe.evaluate.references is not None:
        return list(dict.fromkeys(recipe.evaluate.references))
    options = recipe.student.options
    changed = options.get("keep_layers") is not None or options.get("projection_dim") is not None
    model = options.get("model")
    return [model] if changed and isinstance(model, str) else []


def headline(ab: dict[str, Any]) -> dict[str, Any]:
    """The numbers a manifest keeps from an A/B: quality and speed, student vs teacher."""
    out: dict[str, Any] = {}
    arms = ab["arms"]
    for metric, value in arms["student"].get("metrics", {}).items():
        out[f"ab/{metric}"] = value
        teacher_value = arms["teacher"].get("metrics", {}).get(metric)
        if teacher_value:
            out[f"ab/{metric}_vs_teacher"] = value / teacher_value
    result = ABResult.from_dict(ab).arms
    student, teacher = result["student"], result["teacher"]
    for name, speedup in (("passage", student.passage_speedup(teacher)),
                          ("query", student.query_speedup(teacher))):  # fmt: skip
        if speedup is not None:
            out[f"ab/{name}_encode_speedup"] = speedup
    return out
