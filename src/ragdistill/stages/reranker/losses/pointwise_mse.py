"""Pointwise MSE: regress the student's raw relevance scores onto the teacher's."""

from __future__ import annotations

from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor

from ragdistill.contracts import Stage
from ragdistill.losses.base import DistillationLoss
from ragdistill.losses.shapes import check_scores


def pointwise_mse(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean over every score of ``(student - teacher)**2``."""
    return F.mse_loss(student.float(), teacher.float())


class PointwiseMSELoss(DistillationLoss):
    """Copy the teacher's scores one by one (the student learns the teacher's scale too).

    Scores are ``[B, K]``; use ``margin-mse`` or ``listwise-kl`` when only the ranking matters.
    """

    stage: ClassVar[Stage] = "reranker"

    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        check_scores("pointwise-mse", student, teacher)
        return pointwise_mse(student, teacher.detach())
