"""Mean squared error between the student's and the teacher's embeddings."""

from __future__ import annotations

from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor

from ragdistill.contracts import Stage
from ragdistill.losses.base import DistillationLoss
from ragdistill.losses.shapes import check_embeddings, make_projection, project


def embedding_mse(student: Tensor, teacher: Tensor, *, normalize: bool = False) -> Tensor:
    """Mean over every element of ``(student - teacher)**2``; both ``[B, D]``.

    With ``normalize`` both sides are L2-normalised first, so only directions are matched
    (what cosine-similarity retrieval uses) and the teacher's norms are ignored.
    """
    student, teacher = student.float(), teacher.float()
    if normalize:
        student, teacher = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
    return F.mse_loss(student, teacher)


class EmbeddingMSELoss(DistillationLoss):
    """Regress the student's embeddings onto the teacher's (Reimers & Gurevych 2020).

    When the student is narrower or wider than the teacher, the loss owns a learned linear
    ``projection`` (student_dim -> teacher_dim, no bias) applied to the student's embeddings
    first. It is a parameter of the loss, so the trainer must optimise the loss's parameters
    together with the student's; it is used only for training and is not saved with the
    student. ``projection`` is None when the widths match.
    """

    stage: ClassVar[Stage] = "embedder"

    def __init__(
        self,
        student_dim: int | None = None,
        teacher_dim: int | None = None,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        self.normalize = normalize
        self.projection = make_projection(student_dim, teacher_dim)

    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        check_embeddings("mse", student, teacher)
        student = project("mse", student, teacher, self.projection)
        return embedding_mse(student, teacher.detach(), normalize=self.normalize)
