"""What reranker training and its A/B share: the data, fixed candidate lists, the teacher."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragdistill.config import build
from ragdistill.datasets import Passage, RetrievalDataset
from ragdistill.recipes import Recipe
from ragdistill.stages.reranker.cached_teacher import CachedReranker
from ragdistill.stages.reranker.mining import (
    Candidates,
    collect_candidates,
    eval_query_ids,
    split_queries,
)
from ragdistill.stages.reranker.options import RerankerOptions

if TYPE_CHECKING:
    from ragdistill.runtime import RuntimeBackend


@dataclass
class RerankSetup:
    """What training and the A/B share: data, fixed candidate lists, the teacher."""

    dataset: RetrievalDataset
    passages: dict[str, Passage]
    candidates: Candidates
    teacher: Any
    cached: CachedReranker
    first_stage: dict[str, Any]
    #: The recipe's ``[runtime]``: training runs on its device, the A/B loads through it.
    runtime: RuntimeBackend

    @property
    def device(self) -> str:
        """The torch device students train on (a runtime that cannot train refuses)."""
        return self.runtime.training_device()

    def eval_lists(self, k: int) -> dict[str, list[Passage]]:
        """Each evaluated query's (id) top ``k`` candidates: the A/B's, never training's."""
        return {q: [self.passages[p] for p in ids[:k]] for q, ids in self.candidates.eval.items()}

    def dev_lists(self, k: int) -> list[tuple[str, list[Passage]]]:
        """Each dev query's (text) top ``k`` candidates: what evaluation during training
        reranks (``train.eval_fraction``; none when it is 0)."""
        cands = self.candidates
        return [
            (q, [self.passages[p] for p in ids[:k]]) for q, ids in zip(cands.dev_queries, cands.dev)
        ]


def prepare(recipe: Recipe, *, show_progress: bool = True, train: bool = True) -> RerankSetup:
    """Load the data, retrieve (or reload) the candidates, build the cached teacher.

    ``train``: the runtime must train, which is checked now, before any work (an A/B
    only loads through the runtime, so any runtime will do for it).
    """
    from ragdistill.loading import resolve_runtime
    from ragdistill.registry import default_registry

    registry = default_registry()
    spec = RerankerOptions.model_validate(recipe.stage_options).candidates
    output = Path(recipe.output)
    output.mkdir(parents=True, exist_ok=True)
    runtime = resolve_runtime(recipe.runtime.backend, recipe.runtime.options)
    if train:
        runtime.training_device()  # a runtime that cannot train, or no CUDA, fails now
    # Built first (it loads no model): a bad ensemble member fails now, not after indexing.
    teacher_cls = registry.teacher("reranker", recipe.teacher.kind)
    teacher = build(teacher_cls, recipe.teacher.options, "teacher")
    dataset = build(registry.dataset(recipe.data.dataset), recipe.data.options, "data").load()
    fs_cls = registry.teacher("embedder", spec.embedder.kind)
    first_stage = build(fs_cls, spec.embedder.options, "candidates.embedder")
    eval_ids = eval_query_ids(dataset, recipe.evaluate.max_queries)
    depth = max(recipe.evaluate.k, *recipe.evaluate.latency_candidates)
    train_queries, dev_queries = split_queries(
        dataset,
        max_queries=recipe.train.max_texts,
        seed=recipe.train.seed,
        eval_fraction=recipe.train.eval_fraction,
    )
    candidates = collect_candidates(
        dataset,
        first_stage,
        train_queries=train_queries,
        dev_queries=dev_queries,
        eval_ids=eval_ids,
        k=spec.k,
        eval_depth=depth,
        index_dir=output / "index",
        saved=output / "candidates.json",
        show_progress=show_progress,
    )
    cache_root = Path(recipe.cache_dir) if recipe.cache_dir else None
    return RerankSetup(
        dataset=dataset,
        passages={p.id: p for p in dataset.passages()},
        candidates=candidates,
        teacher=teacher,
        cached=CachedReranker(teacher, root=cache_root),
        first_stage={**first_stage.describe(), "model": getattr(first_stage, "model", None)},
        runtime=runtime,
    )
