"""Embedder distillation: label texts with the teacher (cached), train, save the artifact.

No human labels are needed: the teacher's embeddings are the targets, so any in-domain
text serves. Training texts are the corpus passages, the document titles (short,
query-like text) and the dataset's queries *except* those evaluated, which stay held out
for evaluation during training and the A/B report.
"""

from __future__ import annotations

import json
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
from ragdistill.recipes import Recipe, public_recipe, recipe_fingerprint
from ragdistill.recipes.schema import TrainSpec
from ragdistill.stages.embedder.options import EmbedderOptions
from ragdistill.students.seeding import seeded_init
from ragdistill.teacher_cache import embedding_keys

EVAL_QUERIES = 64
EVAL_POOL = 400


@dataclass
class TextPlan:
    texts: list[str] = field(default_factory=list)
    types: list[InputType] = field(default_factory=list)
    eval_query_ids: list[str] = field(default_factory=list)

    def of_type(self, input_type: InputType) -> list[str]:
        return [t for t, k in zip(self.texts, self.types) if k == input_type]


def plan_texts(dataset: RetrievalDataset, *, max_texts: int | None, seed: int) -> TextPlan:
    """Which texts train the student (with their input type) and which queries evaluate."""
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
    if max_texts is not None and len(pairs) > max_texts:
        pairs = balanced_sample(pairs, max_texts, seed)
    return TextPlan(
        texts=[t for t, _ in pairs],
        types=[k for _, k in pairs],  # type: ignore[misc]
        eval_query_ids=sorted(held_out, key=list(dataset.queries).index)[:EVAL_QUERIES],
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

    dataset = build(registry.dataset(recipe.data.dataset), recipe.data.options, "data").load()
    plan = plan_texts(dataset, max_texts=recipe.train.max_texts, seed=recipe.train.seed)
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
    evaluate = None
    if procs.is_main:
        evaluate = make_evaluator(
            model, cached, dataset, plan.eval_query_ids, seed=recipe.train.seed
        )
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
        device=device,
        evaluate=evaluate,
        show_progress=show_progress,
        order_of=order_of,
        processes=procs,
    )
    if not procs.is_main:
        return output / "student"  # the main process saves it
    final = evaluate() if evaluate is not None else {}

    def artifact_manifest(folder: Path) -> None:
        write_manifest(
            folder,
            stage="embedder",
            loader=student.loader,
            load_options=student.load_options(),
            teacher=teacher.describe(),
            student=student.describe(),
            recipe=public_recipe(recipe),
            data_fingerprint=dataset.fingerprint(),
            metrics={
                **{f"eval/{k}": v for k, v in final.items()},
                "train/steps": result.steps,
                "train/seconds": round(result.seconds, 1),
                "train/texts": len(plan.texts),
                "train/final_loss": result.history[-1]["loss"] if result.history else None,
            },
        )

    artifact = output / "student"
    save_staged(model, artifact, artifact_manifest, what="the distilled student")
    return artifact


def label_shares(
    cached: CachedEmbedder, plan: TextPlan, procs: Processes, *, show_progress: bool
) -> dict[str, dict[str, int]]:
    """Cache the teacher's vectors of every training text; the stats of each input type.

    Under a launcher each process labels its share into the one cache (its writer lock
    keeps concurrent writers safe), then all wait for the others, so each reads the
    full set; the stats are summed over the processes. A process killed midway loses
    only its uncommitted batch: the rerun labels only what no process committed.
    """
    labelling: dict[str, dict[str, int]] = {}
    for input_type in ("document", "query"):
        stats = cached.fill(
            plan.of_type(input_type),
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


def make_evaluator(
    model: Any,
    teacher: CachedEmbedder,
    dataset: RetrievalDataset,
    query_ids: list[str],
    *,
    seed: int,
) -> Any:
    """Agreement with the teacher on held-out queries over a fixed passage pool.

    Reports top-10 overlap with the teacher's ranking and, where qrels exist, the
    student's and the teacher's nDCG@10 on that pool (documents scored by their best
    passage). Cheap enough to run every ``train.eval_every`` steps.
    """
    import torch

    from ragdistill.evaluation.retrieval import ndcg_at_k, overlap_at_k
    from ragdistill.stages.embedder.teacher_pairs import unit_rows

    if not query_ids:
        return None
    passages = dataset.passages()
    relevant = {d for q in query_ids for d, g in dataset.qrels.get(q, {}).items() if g > 0}
    pool = [p for p in passages if p.doc_id in relevant]
    others = [p for p in passages if p.doc_id not in relevant]
    random.Random(seed).shuffle(others)
    pool = (pool + others)[: max(EVAL_POOL, len(pool))]
    queries = [dataset.queries[q] for q in query_ids]
    t_docs = unit_rows(teacher.embed_many([p.text for p in pool], show_progress=False))
    t_queries = unit_rows(teacher.embed_many(queries, input_type="query"))
    teacher_rank = _rankings(t_queries @ t_docs.T, pool)

    def evaluate() -> dict[str, float]:
        with torch.no_grad():
            s_docs = unit_rows(_encode(model, [p.text for p in pool]))
            s_queries = unit_rows(_encode(model, queries))
        student_rank = _rankings(s_queries @ s_docs.T, pool)
        out = {
            "overlap@10": float(
                np.mean([overlap_at_k(a, b, 10) for a, b in zip(student_rank, teacher_rank)])
            )
        }
        if dataset.has_qrels:
            qrels = [dataset.qrels[q] for q in query_ids]
            out["ndcg@10"] = float(
                np.mean([ndcg_at_k(r, g, 10) for r, g in zip(student_rank, qrels)])
            )
            out["teacher_ndcg@10"] = float(
                np.mean([ndcg_at_k(r, g, 10) for r, g in zip(teacher_rank, qrels)])
            )
        return out

    return evaluate


def _encode(model: Any, texts: list[str], batch_size: int = 64) -> np.ndarray:
    parts = [
        model(texts[i : i + batch_size]).float().cpu().numpy()
        for i in range(0, len(texts), batch_size)
    ]
    return np.concatenate(parts)


def _rankings(scores: np.ndarray, pool: list[Any]) -> list[list[str]]:
    """Document rankings (best passage per document), best first."""
    out = []
    for row in scores:
        ranked: list[str] = []
        for i in np.argsort(-row, kind="stable"):
            if pool[i].doc_id not in ranked:
                ranked.append(pool[i].doc_id)
        out.append(ranked)
    return out
