"""Generator distillation: fix the prompts, label them with the teacher (stored), train, save.

1. Questions are split (evaluated ones held out with their articles), and each prompt's
   contexts are retrieved and fixed (:mod:`ragdistill.stages.generator.setup`).
2. Prompts are fitted to the student's budget: whole low-ranked passages are dropped,
   never the question, and the drops are counted.
3. The teacher answers every training and evaluation prompt once, ever: answers (and
   top-k log-probs when asked) go to a kill-safe store keyed by the prompt's content.
   Empty or unparsable answers are dropped and counted, never trained on.
4. The student learns from the teacher's answers through the recipe's losses.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from ragdistill.artifacts import save_staged, write_manifest
from ragdistill.config import build
from ragdistill.contracts import GenerationRequest, request
from ragdistill.errors import ConfigError
from ragdistill.generation.asking import ask
from ragdistill.generation.logprobs import logprob_converter
from ragdistill.generation.rows import TrainRow, clean_answer, teacher_batch, token_row
from ragdistill.recipes import Recipe, public_recipe, recipe_fingerprint, recipe_fingerprints
from ragdistill.stages.generator.examples import GenerationExample
from ragdistill.stages.generator.prompt import (
    EXPLAIN_INSTRUCTION,
    RATIONALE_INSTRUCTION,
    fit,
    parse_rationale,
)
from ragdistill.stages.generator.setup import GeneratorSetup, prepare
from ragdistill.students.seeding import seeded_init


def prompt_budget(setup: GeneratorSetup, context: int | None) -> int:
    """``max_prompt_tokens``, lowered so a prompt and its answer fit the student's context."""
    spec = setup.options
    budget = spec.contexts.max_prompt_tokens
    if context:
        budget = min(budget, context - spec.labels.max_new_tokens)
    return max(budget, 1)


def fitted(
    examples: list[GenerationExample],
    setup: GeneratorSetup,
    count: Any,
    *,
    suffix: str = "",
    context: int | None = None,
) -> tuple[list[tuple[GenerationExample, list[dict[str, str]], int]], dict[str, int]]:
    """Each example with its prompt messages within budget and the passages dropped."""
    spec = setup.options
    budget = prompt_budget(setup, context)
    out, stats = [], {"prompts": 0, "trimmed": 0, "passages_dropped": 0, "skipped": 0}
    for example in examples:
        got = fit(example, spec.prompt, count, budget, system_suffix=suffix)
        if got is None:
            stats["skipped"] += 1
            continue
        if got.dropped:
            stats["trimmed"] += 1
            stats["passages_dropped"] += got.dropped
            # The gold passage sits at a random rank: it may be among the dropped ones.
            kept = any(c.doc_id in example.sources for c in got.contexts)
            if example.answerable and not kept:
                example = replace(example, answerable=False, answers=())
            example = replace(example, contexts=got.contexts)
        stats["prompts"] += 1
        out.append((example, got.messages, got.dropped))
    return out, stats


def teacher_requests(setup: GeneratorSetup, messages: list[list[dict[str, str]]], *,
                     rationale: bool = False) -> list[GenerationRequest]:  # fmt: skip
    labels = setup.options.labels
    budget = labels.rationale_max_new_tokens if rationale else labels.max_new_tokens
    k = 0 if rationale else labels.top_logprobs
    return [request(m, max_new_tokens=budget, top_logprobs=k) for m in messages]


def label_all(
    setup: GeneratorSetup, requests: list[GenerationRequest], convert: Any, *, show_progress: bool,
    desc: str,
) -> tuple[list[str], Any]:  # fmt: skip
    return ask(setup.teacher, requests, setup.store, convert=convert,
               show_progress=show_progress, desc=desc)  # fmt: skip


def distill_generator(
    recipe: Recipe,
    *,
    restart: bool = False,
    show_progress: bool = True,
    stop_after_labelling: bool = False,
) -> Path:
    """Run a generator recipe end to end; returns the artifact directory.

    ``stop_after_labelling`` returns the run folder once the teacher has answered every
    prompt (the expensive, resumable part), before any training.
    """
    from ragdistill.distill.loop import train
    from ragdistill.generation.tokenizers import LOGIT_LOSSES
    from ragdistill.losses.compose import build_losses
    from ragdistill.registry import default_registry

    registry = default_registry()
    output = Path(recipe.output)
    if restart:
        shutil.rmtree(output / "checkpoints", ignore_errors=True)
        (output / "train_log.jsonl").unlink(missing_ok=True)
    output.mkdir(parents=True, exist_ok=True)
    (output / "recipe.json").write_text(json.dumps(public_recipe(recipe), indent=2))
    setup = prepare(recipe, show_progress=show_progress)
    student = build(registry.student("generator", recipe.student.kind), recipe.student.options,
                    "student")  # fmt: skip
    with seeded_init(recipe.train.seed):  # new layers start the same every run
        model = student.build()
    logit = sorted({s.name for s in recipe.losses} & LOGIT_LOSSES)
    if logit:
        check_shared_tokenizer(recipe, setup, model, logit)
    labels = setup.options.labels
    count = lambda m: len(model.prompt_ids(m))  # noqa: E731
    context = getattr(model.causal_lm.config, "max_position_embeddings", None)
    train_fit, train_stats = fitted(setup.train, setup, count, context=context)
    eval_fit, eval_stats = fitted(setup.eval, setup, count, context=context)
    convert = (
        logprob_converter(model.tokenizer, labels.top_logprobs) if labels.top_logprobs else None
    )
    messages = [m for _, m, _ in train_fit] + [m for _, m, _ in eval_fit]
    keys, fill = label_all(setup, teacher_requests(setup, messages), convert,
                           show_progress=show_progress, desc="teacher answers")  # fmt: skip
    answers = setup.store.get(keys[: len(train_fit)])
    report: dict[str, Any] = {
        "train_prompts": train_stats, "eval_prompts": eval_stats, "teacher": vars(fill),
        "synthetic": setup.synthetic,
    }  # fmt: skip
    rows: list[TrainRow] = []
    empty = misaligned = 0
    eos = model.eos_id
    for (_, msgs, _), label in zip(train_fit, answers):
        text = clean_answer(label.text)
        if text is None:
            empty += 1
            continue
        prompt = model.prompt_ids(msgs)
        row = token_row(prompt, label, eos, max_answer=labels.max_new_tokens) if logit else None
        if logit and row is None:
            misaligned += 1
            continue
        rows.append(row or TrainRow(tuple(prompt), tuple(model.target_ids(text))))
    if labels.rationale:
        rows, report["rationale"] = add_rationales(setup, train_fit, model, rows, show_progress)
    report["dropped"] = {"empty_answers": empty, "unaligned_logprobs": misaligned}
    report["train_rows"] = len(rows)
    (output / "labelling.json").write_text(json.dumps(report, indent=2))
    if stop_after_labelling:
        return output
    if len(rows) < 2:
        raise ConfigError(
            f"only {len(rows)} training prompts have a usable teacher answer (see "
            f"{output / 'labelling.json'}); use more data (train.max_texts) or check the teacher"
        )
    baseline = output / "baseline"
    if recipe.evaluate.baseline and not baseline.exists():
        save(model, student, baseline, recipe=None)
    specs = [{"name": s.name, "weight": s.weight, **s.options} for s in recipe.losses]
    loss = build_losses(specs, registry, stage="generator", context={})
    inputs = [(r.prompt_ids, r.target_ids) for r in rows]
    result = train(
        model,
        loss,
        inputs,
        lambda idx: teacher_batch([rows[i] for i in idx]),
        recipe.train,
        output=output,
        fingerprint=recipe_fingerprint(recipe),
        also_resumes=recipe_fingerprints(recipe)[1:],
        device=setup.device,
        show_progress=show_progress,
    )
    metrics = {
        "train/steps": result.steps,
        "train/seconds": round(result.seconds, 1),
        "train/rows": len(rows),
        "train/final_loss": result.history[-1]["loss"] if result.history else None,
    }
    return save(model, student, output / "student", recipe=recipe, setup=setup, metrics=metrics)


def add_rationales(
    setup: GeneratorSetup, train_fit: list[Any], model: Any, rows: list[TrainRow],
    show_progress: bool,
) -> tuple[list[TrainRow], dict[str, int]]:  # fmt: skip
    """Distilling step by step: the teacher reasons, then answers; the student learns the
    rationale (under its own instruction) and the answer as two targets."""
    spec = setup.options
    reasoned, _ = fitted([e for e, _, _ in train_fit], setup, lambda m: len(model.prompt_ids(m)),
                         suffix=RATIONALE_INSTRUCTION)  # fmt: skip
    requests = teacher_requests(setup, [m for _, m, _ in reasoned], rationale=True)
    keys, _ = label_all(setup, requests, None, show_progress=show_progress,
                        desc="teacher rationales")  # fmt: skip
    extra, unparsable = [], 0
    for (example, _, _), label in zip(reasoned, setup.store.get(keys)):
        parsed = parse_rationale(label.text)
        if parsed is None:
            unparsable += 1
            continue
        explain = fit(example, spec.prompt, lambda m: len(model.prompt_ids(m)),
                      spec.contexts.max_prompt_tokens, system_suffix=EXPLAIN_INSTRUCTION)  # fmt: skip
        if explain is None:
            continue
        extra.append(TrainRow(tuple(model.prompt_ids(explain.messages)),
                              tuple(model.target_ids(parsed[0])), spec.labels.rationale_weight))  # fmt: skip
    return rows + extra, {"rationales": len(extra), "unparsable": unparsable}


def check_shared_tokenizer(
    recipe: Recipe, setup: GeneratorSetup, model: Any, logit: list[str]
) -> None:
    """Token-level KD: the teacher's vocabulary must be the student's (checked once the
    student's tokenizer is loaded, before any teacher call)."""
    from ragdistill.generation.tokenizers import check_shared_tokenizer as check

    name = setup.options.teacher_tokenizer or getattr(setup.teacher, "model", None)
    student = recipe.student.options.get("model", "?")
    check(name, student, model.tokenizer, logit, option="[generator] teacher_tokenizer")


def save(model: Any, student: Any, folder: Path, *, recipe: Recipe | None,
         setup: GeneratorSetup | None = None, metrics: dict[str, Any] | None = None) -> Path:  # fmt: skip
    extra: dict[str, Any] = {}
    if recipe is not None and setup is not None:
        extra = {
            "teacher": setup.teacher.describe(),
            "recipe": public_recipe(recipe),
            "recipe_fingerprint": recipe_fingerprint(recipe),
            "data_fingerprint": setup.dataset.fingerprint(),
            "metrics": metrics or {},
        }

    def manifest(staging: Path) -> None:
        write_manifest(staging, stage="generator", loader=student.loader,
                       load_options=student.load_options(), student=student.describe(),
                       **extra)  # fmt: skip

    save_staged(model, folder, manifest, what=f"the generator student ({folder.name})")
    return folder
