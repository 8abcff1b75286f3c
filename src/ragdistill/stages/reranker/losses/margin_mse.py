"""Margin-MSE: match the student's positive-minus-negative score margins to the teacher's."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch.nn.functional as F
from torch import Tensor

from ragdistill.contracts import Stage
from ragdistill.losses.base import DistillationLoss, OptionError
from ragdistill.losses.shapes import check_scores

Form = Literal["squared", "hinge"]


def margin_mse(
    student: Tensor, teacher: Tensor, *, form: Form = "squared", margin: float = 0.0
) -> Tensor:
    """Loss on the margins ``scores[:, 0] - scores[:, j]`` for ``j = 1..K-1``; inputs ``[B, K]``.

    ``squared``: ``mean((student_margin - teacher_margin)**2)`` (Hofstätter et al. 2020).
    ``hinge``: ``mean(relu(teacher_margin - student_margin + margin))``, which only
    penalises a student margin that falls short of the teacher's (plus ``margin``).
    """
    student, teacher = student.float(), teacher.float()
    student_margin = student[:, :1] - student[:, 1:]
    teacher_margin = teacher[:, :1] - teacher[:, 1:]
    if form == "squared":
        return ((student_margin - teacher_margin) ** 2).mean()
    return F.relu(teacher_margin - student_margin + margin).mean()


class MarginMSELoss(DistillationLoss):
    """Distill a reranker through score margins, so the student may use its own score scale.

    Each row of the scores is one query: column 0 is the positive, columns 1..K-1 its
    negatives (K >= 2). ``form = "hinge"`` with a ``margin`` asks the student to beat the
    teacher's margin by at least that much; ``margin`` has no meaning for ``squared``.
    """

    stage: ClassVar[Stage] = "reranker"

    def __init__(self, form: Form = "squared", margin: float = 0.0) -> None:
        super().__init__()
        if form not in ("squared", "hinge"):
            raise OptionError("form", f"must be 'squared' or 'hinge', got {form!r}")
        if form == "squared" and margin != 0.0:
            raise OptionError(
                "margin", "is used only with form = 'hinge'; remove it or set form = 'hinge'"
            )
        self.form: Form = form
        self.margin = margin

    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        check_scores("margin-mse", student, teacher, min_candidates=2)
        return margin_mse(student, teacher.detach(), form=self.form, margin=self.margin)
