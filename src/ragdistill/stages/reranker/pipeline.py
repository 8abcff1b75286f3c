"""Reranker distillation: mine candidates, label them with the teacher (cached), train, save.

1. A first-stage embedder retrieves each training query's top ``k`` passages (Chroma).
2. The teacher scores them all (cached per pair, so a rerun recomputes nothing); its
   best candidate is the query's positive, and hard negatives come from a window of
   first-stage ranks (:mod:`ragdistill.stages.reranker.mining`).
3. The student learns to score each query's list as the teacher does, through the
   recipe's reranker losses (margin-MSE, listwise KL, pointwise MSE); ``in_batch_negatives``
   adds other queries' positives to each list.

Training queries are unjudged queries and document titles; judged queries are held out
for the A/B, and their candidates are labelled too (the A/B reuses those scores).
Evaluation during training (``train.eval_every``) uses a dev split instead:
``train.eval_fraction`` of the training queries, held out of training, whose candidates
the student reranks against the teacher's order (no labels; ``dev_split.json`` lists them).
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ragdistill.artifacts import save_staged, write_manifest
from ragdistill.config import build
from ragdistill.errors import ConfigError
from ragdistill.recipes import Recipe, public_recipe, recipe_fingerprint, recipe_fingerprints
from ragdistill.stages.reranker.mining import (
    MinedExample,
    mine_example,
    plan_batches,
    with_in_batch,
)
from ragdistill.stages.reranker.options import RerankerOptions
from ragdistill.stages.reranker.setup import prepare
from ragdistill.students.seeding import seeded_init

log = logging.getLogger(__name__)


def distill_reranker(recipe: Recipe, *, restart: bool = False, show_progress: bool = True) -> Path:
    """Run a reranker recipe end to end; returns the artifact directory."""
    import torch

    from ragdistill.distill.loop import train
    from ragdistill.losses.compose import build_losses
    from ragdistill.registry import default_registry
    from ragdistill.stages.reranker.evaluate import check_dev_options, dev_summary, make_evaluator
    from ragdistill.stages.reranker.student_models import InBatchNegatives

    registry = default_registry()
    spec = RerankerOptions.model_validate(recipe.stage_options).candidates
    output = Path(recipe.output)
    if restart:
        shutil.rmtree(output / "checkpoints", ignore_errors=True)
        (output / "train_log.jsonl").unlink(missing_ok=True)
    output.mkdir(parents=True, exist_ok=True)
    (output / "recipe.json").write_text(json.dumps(public_recipe(recipe), indent=2))
    check_dev_options(recipe.train)
    setup = prepare(recipe, show_progress=show_progress)
    cands, texts = setup.candidates, setup.passages
    eval_k = recipe.evaluate.k
    if recipe.train.metric_for_best is not None and not cands.dev_queries:
        raise ConfigError(
            f"train.metric_for_best = {recipe.train.metric_for_best!r}: the data has too few "
            "training queries to hold out a dev split; leave metric_for_best and "
            "early_stopping_patience unset"
        )

    # Label every candidate the teacher must see, training, dev and evaluation, once.
    train_lists = [[texts[p] for p in ids] for ids in cands.train]
    train_pairs = [[(q, p.text) for p in ps] for q, ps in zip(cands.train_queries, train_lists)]
    dev_pairs = [(q, p.text) for q, ps in setup.dev_lists(eval_k) for p in ps]
    eval_pairs = [
        (setup.dataset.queries[q], p.text) for q, ps in setup.eval_lists(eval_k).items() for p in ps
    ]
    stats = setup.cached.fill(
        [p for ps in train_pairs for p in ps] + dev_pairs + eval_pairs, show_progress=show_progress
    )
    labelling: dict[str, Any] = {"pairs": vars(stats), "dev_queries": len(cands.dev_queries)}

    rng = random.Random(recipe.train.seed)
    window = spec.window
    assert window is not None  # CandidatesSpec's validator fills in the default
    mined = [
        mine_example(
            q, ps, scores, window=window, negatives=spec.negatives,
            dedup_threshold=spec.dedup_threshold, rng=rng,
        )
        for q, ps, scores in zip(
            cands.train_queries, train_lists, setup.cached.scores_grouped(train_pairs)
        )
    ]  # fmt: skip
    examples: list[MinedExample] = [e for e in mined if e is not None]
    labelling["examples"] = len(examples)
    labelling["skipped_queries"] = len(mined) - len(examples)
    if len(examples) < 2:
        raise ConfigError(
            f"only {len(examples)} training queries kept a positive and a hard negative; "
            "widen candidates.window, raise candidates.k, or use a larger corpus"
        )
    inputs = [(e.query, list(e.docs)) for e in examples]
    n_extra = spec.in_batch_negatives
    if n_extra:
        extra = [
            (q, d)
            for batch in plan_batches(inputs, recipe.train)
            for q, docs in with_in_batch([inputs[i] for i in batch], n_extra)
            for d in docs[-n_extra:]
        ]
        labelling["in_batch"] = vars(setup.cached.fill(extra, show_progress=show_progress))
    (output / "labelling.json").write_text(json.dumps(labelling, indent=2))

    width = spec.negatives + 1

    def teacher_outputs(indices: list[int]) -> tuple[torch.Tensor, dict[str, Any]]:
        rows = [inputs[i] for i in indices]
        if n_extra:
            rows = with_in_batch(rows, n_extra)
        groups = [[(q, d) for d in docs] for q, docs in rows]
        scores = np.stack(setup.cached.scores_grouped(groups))
        real = [examples[i].real for i in indices]
        mask = [[j < r or j >= width for j in range(width + n_extra)] for r in real]
        return torch.from_numpy(scores), {"mask": torch.tensor(mask)}

    student = build(
        registry.student("reranker", recipe.student.kind), recipe.student.options, "student"
    )
    with seeded_init(recipe.train.seed):  # new layers start the same every run
        model = student.build()
    baseline = output / "baseline"
    if not baseline.exists():  # the student before distillation, for the A/B

        def baseline_manifest(staging: Path) -> None:
            write_manifest(staging, stage="reranker", loader=student.loader,
                           load_options=student.load_options(), student=student.describe())  # fmt: skip

        save_staged(model, baseline, baseline_manifest, what="the student before distillation")
    specs = [{"name": s.name, "weight": s.weight, **s.options} for s in recipe.losses]
    loss = build_losses(specs, registry, stage="reranker", context={})
    evaluate = make_evaluator(model, setup, k=eval_k)
    if evaluate is not None:  # what was held out to evaluate on
        summary = dev_summary(setup, recipe.train, k=eval_k)
        (output / "dev_split.json").write_text(json.dumps(summary, indent=2))
    else:
        (output / "dev_split.json").unlink(missing_ok=True)
        if recipe.train.eval_every:
            log.info("train.eval_fraction = 0: no dev split, so no evaluation during training")
    trained = InBatchNegatives(model, n_extra) if n_extra else model
    batches = plan_batches(inputs, recipe.train)[:2]
    scale = calibrate_scale(trained, model, inputs, teacher_outputs, batches)
    if scale is not None:
        labelling["student_scale"] = scale
        (output / "labelling.json").write_text(json.dumps(labelling, indent=2))
    result = train(
        trained,  # type: ignore[arg-type]
        loss,
        inputs,
        teacher_outputs,
        recipe.train,
        output=output,
        fingerprint=recipe_fingerprint(recipe),
        also_resumes=recipe_fingerprints(recipe)[1:],
        device=setup.device,
        evaluate=evaluate,
        show_progress=show_progress,
    )
    final = evaluate() if evaluate is not None else {}
    artifact = output / "student"
    metrics = {
        **{f"eval/{k}": v for k, v in final.items()},
        "train/steps": result.steps,
        "train/seconds": round(result.seconds, 1),
        "train/queries": len(examples),
        "train/candidates_per_query": width + n_extra,
        "train/final_loss": result.history[-1]["loss"] if result.history else None,
    }
    if evaluate is not None:
        metrics["train/dev_queries"] = len(cands.dev_queries)
    metrics |= result.selection_metrics(recipe.train.metric_for_best)

    def artifact_manifest(staging: Path) -> None:
        write_manifest(staging, stage="reranker", loader=student.loader,
                       load_options=student.load_options(), teacher=setup.teacher.describe(),
                       student=student.describe(), recipe=public_recipe(recipe),
                       recipe_fingerprint=recipe_fingerprint(recipe),
                       data_fingerprint=setup.dataset.fingerprint(), metrics=metrics)  # fmt: skip

    save_staged(model, artifact, artifact_manifest, what="the distilled student")
    return artifact


def calibrate_scale(
    trained: Any, model: Any, inputs: list[Any], teacher_outputs: Any, batches: list[list[int]]
) -> float | None:
    """Match a bounded student's score spread to the teacher's before training.

    Students scoring by cosine (bi-encoder, ColBERT) multiply by a learned scale
    (``log_scale``), which a small learning rate would take thousands of steps to move
    from 1 to a z-scored teacher's spread. Set it from the first batches: the standard
    deviation of the teacher's scores around each query's mean over the student's.
    A resumed run restores the trained value from its checkpoint instead.
    """
    import torch

    log_scale = getattr(model, "log_scale", None)
    if not isinstance(log_scale, torch.nn.Parameter) or not batches:
        return None
    trained.eval()
    with torch.no_grad():
        student = torch.cat([trained([inputs[i] for i in b]) for b in batches])
        teacher = torch.cat([teacher_outputs(b)[0] for b in batches]).to(student)
    trained.train()

    def spread(x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean(dim=1, keepdim=True)).std()

    ratio = spread(teacher) / spread(student).clamp(min=1e-6)
    with torch.no_grad():
        log_scale.add_(ratio.clamp(min=1e-3, max=1e3).log())
    return float(log_scale.detach().exp())
