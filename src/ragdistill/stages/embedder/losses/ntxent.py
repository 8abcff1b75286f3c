"""Contrastive NT-Xent of student embeddings against teacher embeddings, in-batch negatives."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from ragdistill.contracts import Stage
from ragdistill.losses.base import DistillationLoss, check_temperature
from ragdistill.losses.shapes import check_embeddings, make_projection, project


def ntxent(
    student: Tensor, teacher: Tensor, *, temperature: float, symmetric: bool = True
) -> Tensor:
    """Cross-entropy over ``cos(student_i, teacher_j) / temperature`` with targets ``j == i``.

    Row i asks the student's embedding of text i to pick the teacher's embedding of the same
    text among the batch; with ``symmetric`` the column direction (each teacher embedding
    picks its student embedding) is averaged in. Both inputs ``[B, D]``. A batch of one has
    no negatives and gives 0.
    """
    s = F.normalize(student.float(), dim=-1)
    t = F.normalize(teacher.float(), dim=-1)
    logits = s @ t.T / temperature
    targets = torch.arange(logits.shape[0], device=logits.device)
    loss = F.cross_entropy(logits, targets)
    if symmetric:
        loss = (loss + F.cross_entropy(logits.T, targets)) / 2
    return loss


class NTXentLoss(DistillationLoss):
    """Teach the student to place each text nearest the teacher's embedding of that text.

    Unlike MSE this only asks the student to rank the right teacher embedding above the
    other texts in the batch, so larger batches give more negatives. ``temperature`` is in
    (0, 1]; 0.05 is the usual value for sentence embeddings.

    When widths differ the loss owns a learned ``projection`` (student_dim -> teacher_dim),
    which the trainer must optimise with the student; it is not saved with the student.
    """

    stage: ClassVar[Stage] = "embedder"

    def __init__(
        self,
        temperature: float = 0.05,
        symmetric: bool = True,
        student_dim: int | None = None,
        teacher_dim: int | None = None,
    ) -> None:
        super().__init__()
        check_temperature(temperature, upper=1.0)
        self.temperature = temperature
        self.symmetric = symmetric
        self.projection = make_projection(student_dim, teacher_dim)

    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        check_embeddings("ntxent", student, teacher)
        student = project("ntxent", student, teacher, self.projection)
        return ntxent(
            student, teacher.detach(), temperature=self.temperature, symmetric=self.symmetric
        )
