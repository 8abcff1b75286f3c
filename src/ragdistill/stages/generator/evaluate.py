"""The A/B that follows a generator distillation: teacher, student, student before."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ragdistill.artifacts import update_metrics
from ragdistill.loading import load_component, resolve_runtime
from ragdistill.recipes import Recipe


def prompt_counter(generator: Any) -> Any:
    """Tokens of rendered messages as ``generator`` (a Hugging Face causal LM) reads them."""
    from ragdistill.hf._loading import render_chat

    tokenizer = generator.lm.tokenizer
    special = not getattr(tokenizer, "chat_template", None)

    def count(messages: list[dict[str, str]]) -> int:
        text = render_chat(tokenizer, messages)
        return len(tokenizer(text, add_special_tokens=special)["input_ids"])

    return count


def ab_for_generator_recipe(recipe: Recipe, artifact: Path, *, show_progress: bool = True) -> Path:
    """Answer the held-out questions with every arm; write ``ab.json`` and ``report.html``.

    The prompts are those the distillation evaluated (same contexts, same budget); the
    teacher's answers come from its labelling store. The student and the baseline load
    through the recipe's ``[runtime]``. Returns the report's path; headline
    numbers go into the artifact's manifest.
    """
    from ragdistill.generation.asking import arm_store
    from ragdistill.stages.generator.ab import run_generation_ab
    from ragdistill.stages.generator.ab_report import write_report
    from ragdistill.stages.generator.pipeline import fitted
    from ragdistill.stages.generator.setup import prepare

    output = Path(recipe.output)
    setup = prepare(recipe, show_progress=show_progress)
    runtime = resolve_runtime(recipe.runtime.backend, recipe.runtime.options)
    arms: dict[str, Any] = {
        "teacher": setup.teacher,
        "student": load_component(artifact, "generator", runtime=runtime),
    }
    baseline = output / "baseline"
    if recipe.evaluate.baseline and baseline.is_dir():
        arms["baseline"] = load_component(baseline, "generator", runtime=runtime)
    fits, _ = fitted(setup.eval, setup, prompt_counter(arms["student"]),
                     context=arms["student"].lm.context)  # fmt: skip
    # The store of the teacher holds its distillation answers; requests match exactly.
    cache = output / "ab" / "answers"
    stores = {n: setup.store if n == "teacher" else arm_store(a, cache) for n, a in arms.items()}
    labels = setup.options.labels
    result = run_generation_ab(
        fits,
        arms,
        stores=stores,
        abstain=setup.options.prompt.abstain,
        dataset=setup.dataset.stats(),
        max_new_tokens=labels.max_new_tokens,
        teacher_top_logprobs=labels.top_logprobs,
        latency_queries=recipe.evaluate.latency_queries,
        n_bootstrap=recipe.evaluate.bootstrap,
        seed=recipe.train.seed,
        show_progress=show_progress,
    )
    out = output / "ab"
    out.mkdir(parents=True, exist_ok=True)
    result.to_json(out / "ab.json")
    report = write_report(result, out / "report.html")
    update_metrics(artifact, headline(result))
    return report


def headline(result: Any) -> dict[str, Any]:
    """The numbers a manifest keeps: the student's F1 and EM, their share of the
    teacher's, and the speed ratios (metrics the data cannot give are left out)."""

    def real(value: Any) -> bool:
        return isinstance(value, (int, float)) and math.isfinite(value)

    out: dict[str, Any] = {}
    for metric in ("f1", "em", "agreement", "groundedness"):
        student = result.arms["student"].metrics.get(metric)
        teacher = result.arms["teacher"].metrics.get(metric)
        if real(student):
            out[f"ab/{metric}"] = student
            if real(teacher) and teacher:
                out[f"ab/{metric}_vs_teacher"] = student / teacher
    ratios = result.speed_ratios.get("student", {})
    out.update({f"ab/{k}": v for k, v in ratios.items() if real(v)})
    return out
