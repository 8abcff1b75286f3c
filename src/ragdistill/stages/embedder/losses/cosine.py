"""One minus the cosine similarity of the student's and the teacher's embeddings."""

from __future__ import annotations

from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor

from ragdistill.contracts import Stage
from ragdistill.losses.base import DistillationLoss
from ragdistill.losses.shapes import check_embeddings, make_projection, project


def cosine_distance(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean over the batch of ``1 - cos(student_i, teacher_i)``; both ``[B, D]``."""
    return (1 - F.cosine_similarity(student.float(), teacher.float(), dim=-1)).mean()


class CosineDistillationLoss(DistillationLoss):
    """Match the direction of each student embedding to its teacher embedding.

    Norms are ignored, which suits students served with cosine similarity. When widths
    differ the loss owns a learned ``projection`` (student_dim -> teacher_dim), which the
    trainer must optimise with the student; see :class:`~ragdistill.stages.embedder.losses.mse.EmbeddingMSELoss`.
    """

    stage: ClassVar[Stage] = "embedder"

    def __init__(self, student_dim: int | None = None, teacher_dim: int | None = None) -> None:
        super().__init__()
        self.projection = make_projection(student_dim, teacher_dim)

    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        check_embeddings("cosine", student, teacher)
        student = project("cosine", student, teacher, self.projection)
        return cosine_distance(student, teacher.detach())
