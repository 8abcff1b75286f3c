"""The torch side of the "lexicon" test stage: its loss, trainable model and pipeline.

Installed as ``rd_lexicon_training`` beside ``rd_lexicon`` (``lexicon_plugin.py``), which
imports it only when a loss is registered or a student built, so the plugin's entry-point
module stays free of torch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from rd_lexicon import (
    STAGE,
    WEIGHTS_FILE,
    WEIGHTS_FORMAT,
    bucket,
    split_texts,
    tokens,
)
from torch import Tensor

from ragdistill.losses.base import DistillationLoss, LossInputError, OptionError
from ragdistill.students.model import StudentModel

if TYPE_CHECKING:
    from ragdistill.recipes.schema import Recipe


def score_loss(student: Tensor, teacher: Tensor, *, delta: float | None = None) -> Tensor:
    """Mean squared error between two score vectors, or the Huber loss with ``delta``."""
    student, teacher = student.float().reshape(-1), teacher.float().reshape(-1)
    if delta is None:
        return F.mse_loss(student, teacher)
    return F.huber_loss(student, teacher, delta=delta)


class ScoreMSELoss(DistillationLoss):
    """Regress the student's scores onto the teacher's (Huber with ``delta``)."""

    stage: ClassVar[str] = STAGE

    def __init__(self, delta: float | None = None) -> None:
        super().__init__()
        if delta is not None and not delta > 0:
            raise OptionError("delta", f"must be > 0, got {delta!r}")
        self.delta = delta

    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        if student.numel() != teacher.numel():
            raise LossInputError(
                f"lexicon-mse: {student.numel()} student scores for {teacher.numel()} "
                "teacher scores; both must hold one score per text"
            )
        return score_loss(student, teacher.detach(), delta=self.delta)


class HashedBowModel(StudentModel):
    """``bias + mean(weight[bucket(word)])`` over a text's words (0 + bias without words)."""

    output_dim = 1

    def __init__(self, buckets: int, *, init_std: float, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.buckets = buckets
        self.weight = torch.nn.Parameter(torch.randn(buckets, 1, generator=generator) * init_std)
        self.bias = torch.nn.Parameter(torch.zeros(()))

    def forward(self, batch: list[str]) -> Tensor:
        ids: list[int] = []
        offsets: list[int] = []
        for text in batch:
            offsets.append(len(ids))
            ids.extend(bucket(word, self.buckets) for word in tokens(text))
        pooled = F.embedding_bag(
            torch.tensor(ids, dtype=torch.long),
            self.weight,
            torch.tensor(offsets, dtype=torch.long),
            mode="mean",
        )
        return pooled.squeeze(1) + self.bias

    def save_artifact(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        data = {
            "format": WEIGHTS_FORMAT,
            "buckets": self.buckets,
            "bias": float(self.bias.detach()),
            "weights": self.weight.detach().reshape(-1).tolist(),
        }
        (path / WEIGHTS_FILE).write_text(json.dumps(data), encoding="utf-8")


def distill_lexicon(recipe: Recipe, *, restart: bool, show_progress: bool) -> Path:
    """Label the training texts with the teacher, train the student, save the artifact.

    Training runs in ragdistill's shared loop, so it checkpoints and a re-run resumes:
    a finished run re-saves the same weights without training a step.
    """
    from ragdistill.artifacts import write_manifest
    from ragdistill.config import build
    from ragdistill.distill.loop import train
    from ragdistill.losses.compose import build_losses
    from ragdistill.recipes import recipe_fingerprint
    from ragdistill.registry import default_registry
    from ragdistill.students import artifact_dir

    registry = default_registry()
    output = Path(recipe.output)
    if restart:
        for stale in ("checkpoints", "baseline", "student"):
            shutil.rmtree(output / stale, ignore_errors=True)
        (output / "train_log.jsonl").unlink(missing_ok=True)
    output.mkdir(parents=True, exist_ok=True)
    (output / "recipe.json").write_text(recipe.model_dump_json(indent=2))

    texts, _, dataset = split_texts(recipe)
    teacher = build(registry.teacher(STAGE, recipe.teacher.kind), recipe.teacher.options, "teacher")
    targets = torch.tensor(teacher.score_many(texts), dtype=torch.float32)
    student = build(registry.student(STAGE, recipe.student.kind), recipe.student.options, "student")
    model = student.build()
    if not (output / "baseline").exists():  # the student before distillation, for the A/B
        model.save_artifact(output / "baseline")
    specs = [{"name": s.name, "weight": s.weight, **s.options} for s in recipe.losses]
    loss = build_losses(specs, registry, stage=STAGE, context={})
    result = train(
        model,
        loss,
        texts,
        lambda indices: targets[indices],
        recipe.train,
        output=output,
        fingerprint=recipe_fingerprint(recipe),
        show_progress=show_progress,
    )
    with torch.no_grad():
        final_loss = float(loss(model(texts), targets)[0])

    artifact = artifact_dir(output)
    staging = output / ".student.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_artifact(staging)
    write_manifest(
        staging,
        stage=STAGE,
        loader=student.loader,
        load_options=student.load_options(),
        teacher=teacher.describe(),
        student=student.describe(),
        recipe=json.loads(recipe.model_dump_json()),
        data_fingerprint=dataset.fingerprint(),
        metrics={"train/steps": result.steps, "train/texts": len(texts), "train/loss": final_loss},
    )
    shutil.rmtree(artifact, ignore_errors=True)
    staging.rename(artifact)
    return artifact
