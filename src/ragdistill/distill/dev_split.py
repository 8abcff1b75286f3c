"""The dev split: training queries held out to evaluate on during training, without labels.

Evaluation during training (``train.eval_every``) chooses what the artifact keeps once
``train.metric_for_best`` or early stopping is set, so it must not read the evaluated
(test) queries: they would then pick the checkpoint the A/B scores on them. A stage
holds out a seeded ``train.eval_fraction`` of its own training queries instead, and
scores the student by how well it agrees with the teacher's ranking on them
(:func:`teacher_agreement`), so no relevance judgement is needed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ragdistill.errors import ConfigError
from ragdistill.evaluation.retrieval import ndcg_at_k, overlap_at_k

if TYPE_CHECKING:
    from ragdistill.recipes.schema import TrainSpec

#: Dev queries: at least a few (fewer make a noisy mean), at most what a stable mean
#: needs (more only slow every evaluation down).
DEV_MIN, DEV_MAX = 8, 200
#: How deep the teacher's ranking grades the student's: gains DEV_TOP (its first) to 1.
DEV_TOP = 10


def dev_size(n: int, fraction: float) -> int:
    """How many of ``n`` training queries a ``fraction`` holds out.

    ``DEV_MIN`` to ``DEV_MAX`` of them, never more than half; none when ``fraction`` is 0.
    """
    if fraction <= 0:
        return 0
    return min(DEV_MAX, max(DEV_MIN, round(n * fraction)), n // 2)


def dev_indices(n: int, fraction: float, seed: int) -> list[int]:
    """The positions (ascending) of the :func:`dev_size` items of ``n`` held out; seeded."""
    return sorted(random.Random(f"dev split {seed}").sample(range(n), dev_size(n, fraction)))


def teacher_agreement(
    student: Sequence[Sequence[str]], teacher: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Mean agreement of the student's rankings (ids, best first) with the teacher's.

    ``dev/ndcg@10`` grades the student's top 10 by the teacher's ranking: the teacher's
    first gains ``DEV_TOP``, its tenth 1, others nothing. ``dev/overlap@10`` is the share
    of the teacher's top 10 in the student's. Every stage's dev split is scored so.
    """
    graded = [{d: DEV_TOP - r for r, d in enumerate(t[:DEV_TOP])} for t in teacher]
    return {
        "dev/ndcg@10": float(np.mean([ndcg_at_k(s, g, 10) for s, g in zip(student, graded)])),
        "dev/overlap@10": float(
            np.mean([overlap_at_k(s, t, 10) for s, t in zip(student, teacher)])
        ),
    }


def check_dev_metric(spec: TrainSpec, metrics: Sequence[str], *, stage: str) -> None:
    """Refuse a ``train.metric_for_best`` the dev split cannot report, before any work.

    ``metrics``: what ``stage`` (as a sentence names it, "the embedder") evaluates.
    """
    metric = spec.metric_for_best
    if metric is None:
        return
    if metric.removeprefix("eval/") not in metrics:
        raise ConfigError(
            f"train.metric_for_best = {metric!r}: {stage} evaluates "
            f"{_either(metrics)} during training; name one of them"
        )
    if spec.eval_fraction == 0:
        raise ConfigError(
            f"train.metric_for_best = {metric!r} needs a dev split to evaluate on; "
            "set train.eval_fraction above 0 (e.g. 0.05)"
        )


def _either(names: Sequence[str]) -> str:
    quoted = [repr(n) for n in names]
    return " and ".join(quoted) if len(quoted) < 3 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"
