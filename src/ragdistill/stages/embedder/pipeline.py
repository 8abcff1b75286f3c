"""Embedder distillation: label texts with the teacher (cached), train, save the artifact.

No human labels are needed: the teacher's embeddings are the targets, so any in-domain
text serves. Training texts are the corpus passages, the document titles (short,
query-like text) and the dataset's queries *except* those evaluated, which are the A/B's
test set and are never used before it. Evaluation during training (``train.eval_every``)
uses a dev split instead: ``train.eval_fraction`` of the query-shaped training texts,
held out of training and scored without labels, by how the student ranks a pool of
training passages against the teacher's ranking.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragdistill.artifacts import MANIFEST_NAME, save_staged, write_manifest
from ragdistill.config import build
from ragdistill.contracts import InputType
from ragdistill.datasets import RetrievalDataset
from ragdistill.distill.accelerated import Processes, processes
from ragdistill.distill.cached_teacher import CachedEmbedder
from ragdistill.distill.dev_split import DEV_MAX as DEV_MAX
from ragdistill.distill.dev_split import DEV_MIN as DEV_MIN
from ragdistill.distill.dev_split import DEV_TOP, check_dev_metric, dev_indices, teacher_agreement
from ragdistill.errors import ConfigError
from ragdistill.recipes import Recipe, public_recipe, recipe_fingerprint, recipe_fingerprints
from ragdistill.recipes.schema import TrainSpec
from ragdistill.stages.embedder.options import EmbedderOptions
from ragdistill.students.seeding import seeded_init
from ragdistill.teacher_cache import embedding_keys

log = logging.getLogger(__name__)

#: Training passages each dev evaluation ranks.
EVAL_POOL = 400
DEV_METRICS = ("dev/ndcg@10", "dev/overlap@10")


@dataclass
class TextPlan:
    texts: list[str] = field(default_factory=list)
    types: list[InputType] = field(default_factory=list)
    #: Held out of ``texts`` (``train.eval_fraction``) to evaluate on, as ``dev_type``.
    dev_texts: list[str] = field(default_factory=list)
    dev_type: InputType = "query"

    def of_type(self, input_type: InputType) -> list[str]:
        return [t for t, k in zip(self.texts, self.types) if k == input_type]

    def to_label(self, input_type: InputType) -> list[str]:
        """What the teacher embeds as ``input_type``: training texts and dev queries."""
        return self.of_type(input_type) + (self.dev_texts if self.dev_type == input_type else [])


def plan_texts(
    dataset: RetrievalDataset, *, max_texts: int | None, seed: int, eval_fraction: float = 0.0
) -> TextPlan:
    """Which texts train the student (with their input type) and which are its dev split.

    The dataset's evaluated queries are in neither: they stay unseen until the A/B.
    """
    held_out = set(dataset.evaluable_query_ids())
    items: dict[tuple[str, str], None] = {}
    for passage in dataset.passages():
        items[(passage.text, "document")] = None
    for doc in dataset.corpus.values():
        if doc.title.strip():
            items[(doc.title, "query")] = None
    for qid, text in dataset.queries.items():
        if qid not in held_out and text.strip():
            items[(text, "query")] = None
    pairs = [p for p in items if p[0].strip()]
    # Split before the max_texts sample, so max_texts stays the number of training texts.
    pairs, dev = dev_split(pairs, eval_fraction, seed)
    if max_texts is not None and len(pairs) > max_texts:
        pairs = balanced_sample(pairs, max_texts, seed)
    return TextPlan(
        texts=[t for t, _ in pairs],
        types=[k for _, k in pairs],  # type: ignore[misc]
        dev_texts=[t for t, _ in dev],
        dev_type=dev[0][1] if dev else "query",  # type: ignore[arg-type]
    )


def dev_split(
    pairs: list[tuple[str, str]], fraction: float, seed: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(training, dev)`` (text, input type) pairs: a seeded ``fraction`` held out.

    Dev queries are query-shaped texts (titles, unjudged queries), what a deployed
    embedder is asked with; between ``DEV_MIN`` and ``DEV_MAX`` of them, and never more
    than half. A dataset without such text holds out passages instead. Order is kept.
    """
    if fraction <= 0:
        return pairs, []
    side = [i for i, (_, kind) in enumerate(pairs) if kind != "document"]
    passages = len(side) < 2
    if passages:
        side = [i for i, (_, kind) in enumerate(pairs) if kind == "document"]
    dev = {side[j] for j in dev_indices(len(side), fraction, seed)}
    if passages and dev:
        log.info(
            "no query-shaped training text to hold out: %d training passages serve as "
            "dev queries (train.eval_fraction)", len(dev),
        )  # fmt: skip
    return [p for i, p in enumerate(pairs) if i not in dev], [pairs[i] for i in sorted(dev)]


def check_dev_options(spec: TrainSpec, plan: TextPlan | None = None) -> None:
    """Refuse a best-metric selection the embedder cannot evaluate, before any labelling."""
    check_dev_metric(spec, DEV_METRICS, stage="the embedder")
    metric = spec.metric_for_best
    if metric is not None and plan is not None and not plan.dev_texts:
        raise ConfigError(
            f"train.metric_for_best = {metric!r}: the data has too few training texts to "
            "hold out a dev split; leave metric_for_best and early_stopping_patience unset"
        )


def balanced_sample(
    pairs: list[tuple[str, str]], max_texts: int, seed: int
) -> list[tuple[str, str]]:
    """A seeded sample of ``max_texts`` (text, input type) pairs, half of them passages.

    A plain sample follows the mix of the pool, and a pool of many questions over few
    paragraphs (SQuAD: ten questions a paragraph) would leave the student seeing almost
    no passages, the side the index embeds. So each side gets half; a side with fewer
    keeps all of its texts and the other side fills the rest. Order is kept.
    """
    docs = [i for i, (_, kind) in enumerate(pairs) if kind == "document"]
    queries = [i for i, (_, kind) in enumerate(pairs) if kind != "document"]
    n_docs = min(len(docs), max(max_texts // 2, max_texts - len(queries)))
    rng = random.Random(seed)
    keep = rng.sample(docs, n_docs) + rng.sample(queries, max_texts - n_docs)
    return [pairs[i] for i in sorted(keep)]


def distill_embedder(recipe: Recipe, *, restart: bool = False, show_progress: bool = True) -> Path:
    """Run an embedder recipe end to end; returns the artifact directory."""
    options = EmbedderOptions.model_validate(recipe.stage_options)
    import torch

    from ragdistill.distill.checkpoint import latest_checkpoint
    from ragdistill.distill.loop import train
    from ragdistill.losses.compose import build_losses
    from ragdistill.registry import default_registry

    registry = default_registry()
    output = Path(recipe.output)
    runtime = build(registry.runtime(recipe.runtime.backend), recipe.runtime.options, "runtime")
    device = runtime.training_device()
    # Under a launcher every process runs this; only the main one writes the output folder.
    procs = processes(device)
    if procs.is_main:
        if restart:
            shutil.rmtree(output / "checkpoints", ignore_errors=True)
            (output / "train_log.jsonl").unlink(missing_ok=True)
        output.mkdir(parents=True, exist_ok=True)
        (output / "recipe.json").write_text(json.dumps(public_recipe(recipe), indent=2))

    check_dev_options(recipe.train)
    dataset = build(registry.dataset(recipe.data.dataset), recipe.data.options, "data").load()
    plan = plan_texts(dataset, max_texts=recipe.train.max_texts, seed=recipe.train.seed,
                      eval_fraction=recipe.train.eval_fraction)  # fmt: skip
    check_dev_options(recipe.train, plan)
    cache_root = Path(recipe.cache_dir) if recipe.cache_dir else None

    teacher = build(
        registry.teacher("embedder", recipe.teacher.kind), recipe.teacher.options, "teacher"
    )
    cached = CachedEmbedder(teacher, root=cache_root)
    labelling = label_shares(cached, plan, procs, show_progress=show_progress)
    if procs.is_main:
        (output / "labelling.json").write_text(json.dumps(labelling, indent=2))

    student = build(
        registry.student("embedder", recipe.student.kind), recipe.student.options, "student"
    )
    specs = [{"name": s.name, "weight": s.weight, **s.options} for s in recipe.losses]
    with seeded_init(recipe.train.seed):
        model = student.build()
        context = {"student_dim": model.output_dim, "teacher_dim": cached.dimension}
        loss = build_losses(specs, registry, stage="embedder", context=context)

    # The student before distillation, for the A/B baseline arm. Its manifest names the
    # student's loader, so load_component loads it whatever library the student uses.
    def baseline_manifest(folder: Path) -> None:
        write_manifest(folder, stage="embedder", loader=student.loader,
                       load_options=student.load_options(), student=student.describe())  # fmt: skip

    baseline = output / "baseline"
    if procs.is_main and not baseline.exists():
        save_staged(model, baseline, baseline_manifest, what="the student before distillation")
    elif procs.is_main and not (baseline / MANIFEST_NAME).is_file():  # saved without one
        baseline_manifest(baseline)
    keys = [k for t, kind in zip(plan.texts, plan.types) for k in embedding_keys([t], kind)]

    def teacher_outputs(indices: list[int]) -> torch.Tensor:
        return torch.from_numpy(cached.cache.get([keys[i] for i in indices]))

    if latest_checkpoint(output / "checkpoints") is None:  # a resume restores the fitted map
        fit_projections(model, loss, plan.texts, teacher_outputs, seed=recipe.train.seed)
    evaluate, dev = None, None
    if procs.is_main and plan.dev_texts:
        dev = dev_set(cached, plan, seed=recipe.train.seed, show_progress=show_progress)
        evaluate = make_evaluator(model, dev)
        summary = dev.summary(plan, recipe.train)
        (output / "dev_split.json").write_text(json.dumps(summary, indent=2))
    elif procs.is_main:
        (output / "dev_split.json").unlink(missing_ok=True)
        if recipe.train.eval_every:
            log.info("train.eval_fraction = 0: no dev split, so no evaluation during training")
    order_of = None
    if options.teacher_pairs:
        order_of = teacher_pair_orders(plan, teacher_outputs, recipe.train)
    result = train(
        model,
        loss,
        plan.texts,
        teacher_outputs,
        recipe.train,
        output=output,
        fingerprint=recipe_fingerprint(recipe),
        also_resumes=recipe_fingerprints(recipe)[1:],
        device=device,
        evaluate=evaluate,
        show_progress=show_progress,
        order_of=order_of,
        processes=procs,
    )
    if not procs.is_main:
        return output / "student"  # the main process saves it
    final = evaluate() if evaluate is not None else {}
    selection: dict[str, Any] = {}
    if dev is not None:  # what was held out to evaluate on
        selection = {"train/dev_queries": len(dev.queries), "train/dev_pool": len(dev.pool)}
    selection |= result.selection_metrics(recipe.train.metric_for_best)

    def artifact_manifest(folder: Path) -> None:
        write_manifest(
            folder,
            stage="embedder",
            loader=student.loader,
            load_options=student.load_options(),
            teacher=teacher.describe(),
            student=student.describe(),
            recipe=public_recipe(recipe),
            recipe_fingerprint=recipe_fingerprint(recipe),
            data_fingerprint=dataset.fingerprint(),
            metrics={
                **{f"eval/{k}": v for k, v in final.items()},
                "train/steps": result.steps,
                "train/seconds": round(result.seconds, 1),
                "train/texts": len(plan.texts),
                "train/final_loss": result.history[-1]["loss"] if result.history else None,
                **selection,
            },
        )

    artifact = output / "student"
    save_staged(model, artifact, artifact_manifest, what="the distilled student")
    return artifact


def label_shares(
    cached: CachedEmbedder, plan: TextPlan, procs: Processes, *, show_progress: bool
) -> dict[str, dict[str, int]]:
    """Cache the teacher's vectors of every training and dev text; the stats of each type.

    Under a launcher each process labels its share into the one cache (its writer lock
    keeps concurrent writers safe), then all wait for the others, so each reads the
    full set; the stats are summed over the processes. A process killed midway loses
    only its uncommitted batch: the rerun labels only what no process committed.
    """
    labelling: dict[str, dict[str, int]] = {}
    for input_type in ("document", "query"):
        stats = cached.fill(
            plan.to_label(input_type),
            input_type,
            show_progress=show_progress and procs.is_main,
            part=procs.index,
            parts=procs.count,
        )
        labelling[input_type] = {"total": stats.total, "computed": stats.computed}
    procs.wait()
    if procs.count > 1:
        summed = procs.total([n for kind in labelling.values() for n in kind.values()])
        labelling = {
            kind: {"total": summed[2 * i], "computed": summed[2 * i + 1]}
            for i, kind in enumerate(labelling)
        }
    for counts in labelling.values():
        counts["reused"] = counts["total"] - counts["computed"]
    return labelling


def teacher_pair_orders(
    plan: TextPlan, teacher_outputs: Any, spec: TrainSpec
) -> Callable[[int], np.ndarray]:
    """``epoch -> order`` that batches each query-shaped text with a teacher-near passage."""
    from ragdistill.distill.loop import input_lengths
    from ragdistill.stages.embedder.teacher_pairs import paired_orders, teacher_partners

    queries = [i for i, kind in enumerate(plan.types) if kind != "document"]
    passages = [i for i, kind in enumerate(plan.types) if kind == "document"]
    partners = np.empty((len(queries), 0), dtype=np.int64)
    if queries and passages:
        partners = teacher_partners(
            teacher_outputs(queries).numpy(), teacher_outputs(passages).numpy()
        )
    return paired_orders(
        len(plan.texts),
        queries,
        np.asarray(passages, dtype=np.int64)[partners],
        passages,
        seed=spec.seed,
        batch_size=spec.batch_size,
        lengths=input_lengths(plan.texts) if spec.group_by_length else None,
    )


def fit_projections(
    model: Any,
    loss: Any,
    texts: list[str],
    teacher_outputs: Any,
    *,
    seed: int,
    sample: int = 512,
    batch_size: int = 64,
) -> int:
    """Start each student -> teacher projection of the losses at its best rotation.

    Embeds a seeded sample of the training texts with the untrained student and fits
    every :class:`~ragdistill.losses.shapes.OrthonormalProjection` of ``loss`` in closed
    form (orthogonal Procrustes), so training starts from the student's own geometry
    instead of a random rotation it would first have to turn towards. Returns how many
    projections were fitted.
    """
    import torch

    from ragdistill.losses.shapes import OrthonormalProjection

    projections = [m for m in loss.modules() if isinstance(m, OrthonormalProjection)]
    if not projections or len(texts) < 2:
        return 0
    rng = random.Random(seed)
    picked = sorted(rng.sample(range(len(texts)), min(sample, len(texts))))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        student = torch.cat(
            [
                model([texts[i] for i in picked[j : j + batch_size]]).float().cpu()
                for j in range(0, len(picked), batch_size)
            ]
        )
    model.train(was_training)
    teacher = teacher_outputs(picked).float().cpu()
    fitted = 0
    for projection in projections:
        if (projection.in_features, projection.out_features) == (
            student.shape[1],
            teacher.shape[1],
        ):
            projection.fit_(student, teacher)
            fitted += 1
    return fitted


@dataclass
class DevSet:
    """The dev queries, the pool of training passages they rank, and the teacher's ranks."""

    queries: list[str]
    pool: list[str]
    #: Per query: the pool positions of the teacher's top ``DEV_TOP``, best first.
    teacher_top: list[list[int]]
    #: How many pool passages are in some dev query's teacher top 10 (the rest: random).
    from_teacher: int

    def summary(self, plan: TextPlan, spec: TrainSpec) -> dict[str, Any]:
        """What ``dev_split.json`` records, so a user sees what was held out."""
        return {
            "eval_fraction": spec.eval_fraction,
            "seed": spec.seed,
            "source": "query-shaped training text"
            if plan.dev_type == "query"
            else "training passages",
            "input_type": plan.dev_type,
            "dev_queries": len(self.queries),
            "pool": len(self.pool),
            "pool_from_teacher_top": self.from_teacher,
            "metrics": list(DEV_METRICS),
            "queries": self.queries,
        }


def dev_set(
    teacher: CachedEmbedder,
    plan: TextPlan,
    *,
    seed: int,
    pool_size: int = EVAL_POOL,
    show_progress: bool = True,
) -> DevSet:
    """Pick the dev pool: each dev query's teacher top passages first, then random ones.

    The pool is drawn from the training passages, whose teacher vectors the cache
    already holds, so this asks the teacher nothing (any vector missing is labelled with
    a progress bar). Passages the teacher ranks high for some dev query go in first (the
    best of every query, then the second...), so the pool holds what a ranking is judged
    on; random passages fill the rest, the distractors.
    """
    passages = plan.of_type("document")
    if not passages:
        raise ConfigError("the dev split needs training passages to rank; the data has none")
    queries = _teacher_vectors(teacher, plan.dev_texts, plan.dev_type, show_progress)
    keys = embedding_keys(passages, "document")
    if teacher.cache.missing(keys):
        teacher.fill(passages, "document", show_progress=show_progress)
    top = _top_k(queries, lambda a, b: teacher.cache.get(keys[a:b]), len(passages), DEV_TOP)
    chosen: dict[int, None] = {}
    for rank in range(top.shape[1]):
        for row in top[:, rank]:
            if len(chosen) < pool_size:
                chosen.setdefault(int(row))
    from_teacher = len(chosen)
    others = [i for i in range(len(passages)) if i not in chosen]
    random.Random(f"dev pool {seed}").shuffle(others)
    picked = [*chosen, *others[: max(0, pool_size - len(chosen))]]
    in_pool = _top_k(queries, lambda a, b: teacher.cache.get([keys[i] for i in picked[a:b]]),
                     len(picked), DEV_TOP)  # fmt: skip
    return DevSet(
        queries=list(plan.dev_texts),
        pool=[passages[i] for i in picked],
        teacher_top=[[int(j) for j in row] for row in in_pool],
        from_teacher=from_teacher,
    )


def make_evaluator(model: Any, dev: DevSet) -> Callable[[], dict[str, float]]:
    """Label-free agreement with the teacher on the dev split, cheap enough to run often.

    ``dev/ndcg@10`` grades the student's top 10 of the pool by the teacher's: its first
    passage gains 10, its tenth 1, others nothing. ``dev/overlap@10`` is the share of
    the teacher's top 10 in the student's.
    """
    import torch

    from ragdistill.stages.embedder.teacher_pairs import unit_rows

    teacher_top = [[str(j) for j in row] for row in dev.teacher_top]

    def evaluate() -> dict[str, float]:
        with torch.no_grad():
            pool = unit_rows(_encode(model, dev.pool))
            queries = unit_rows(_encode(model, dev.queries))
        student = np.argsort(-(queries @ pool.T), axis=1, kind="stable")[:, :DEV_TOP]
        return teacher_agreement([[str(j) for j in row] for row in student], teacher_top)

    return evaluate


def _teacher_vectors(
    teacher: CachedEmbedder, texts: list[str], input_type: InputType, show_progress: bool
) -> np.ndarray:
    keys = embedding_keys(texts, input_type)
    if teacher.cache.missing(keys):  # labelled with the training texts, unless called alone
        teacher.fill(texts, input_type, show_progress=show_progress)
    return np.asarray(teacher.cache.get(keys))


def _top_k(
    queries: np.ndarray, rows: Callable[[int, int], np.ndarray], n: int, k: int, chunk: int = 8192
) -> np.ndarray:
    """``[Q, k]`` indices of each query's nearest of ``n`` rows by cosine, best first.

    ``rows(start, stop)`` reads a slice, so all the passages of a large corpus are never
    in memory at once.
    """
    from ragdistill.stages.embedder.teacher_pairs import unit_rows

    q = unit_rows(queries)
    scores = np.empty((len(q), 0), dtype=np.float32)
    index = np.empty((len(q), 0), dtype=np.int64)
    for start in range(0, n, chunk):
        block = unit_rows(rows(start, min(n, start + chunk)))
        scores = np.concatenate([scores, q @ block.T], axis=1)
        index = np.concatenate(
            [index, np.broadcast_to(np.arange(start, start + len(block)), (len(q), len(block)))],
            axis=1,
        )
        if scores.shape[1] > k:  # keep each query's best k so far
            keep = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            scores = np.take_along_axis(scores, keep, 1)
            index = np.take_along_axis(index, keep, 1)
    # Equal scores in index order, as the student's stable sort ranks them.
    best_first = np.lexsort((index, -scores), axis=-1)
    return np.take_along_axis(index, best_first, 1)


def _encode(model: Any, texts: list[str], batch_size: int = 64) -> np.ndarray:
    # Batches of similar lengths: a batch pads to its longest text.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    parts = [
        model([texts[i] for i in order[j : j + batch_size]]).float().cpu().numpy()
        for j in range(0, len(order), batch_size)
    ]
    stacked = np.concatenate(parts)
    out = np.empty_like(stacked)
    out[order] = stacked
    return out
