"""Listwise KL: match the student's softmax over each query's candidates to the teacher's."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from ragdistill.contracts import Stage
from ragdistill.losses.base import DistillationLoss, LossInputError, check_temperature
from ragdistill.losses.shapes import check_mask, check_scores


def listwise_kl(
    student: Tensor, teacher: Tensor, *, temperature: float = 1.0, mask: Tensor | None = None
) -> Tensor:
    """``T**2 * KL(softmax(teacher/T) || softmax(student/T))``, summed over candidates and
    averaged over queries (``batchmean``); inputs ``[B, K]``.

    ``mask`` (``[B, K]`` bool, True = real) drops padded candidates from both softmaxes, so
    queries with fewer candidates can share a batch; a ``-inf`` score counts as padding too.
    """
    student, teacher = student.float(), teacher.float()
    keep = ~torch.isneginf(student) & ~torch.isneginf(teacher)
    if mask is not None:
        keep = keep & mask
    log_s = torch.log_softmax((student / temperature).masked_fill(~keep, -torch.inf), dim=-1)
    log_t = torch.log_softmax((teacher / temperature).masked_fill(~keep, -torch.inf), dim=-1)
    # Zero the padded entries before the product: 0 * -inf would be nan.
    log_s = log_s.masked_fill(~keep, 0.0)
    log_t = log_t.masked_fill(~keep, 0.0)
    p_t = log_t.exp() * keep
    kl = (p_t * (log_t - log_s)).sum(-1)
    return kl.mean() * temperature**2


class ListwiseKLLoss(DistillationLoss):
    """Distill the teacher's whole ranking of each query's candidates, not just one pair.

    A ``temperature`` above 1 softens both distributions so the student also learns how the
    teacher orders the negatives; the loss is multiplied by ``T**2`` to keep gradient scale
    independent of ``T`` (Hinton et al. 2015). Pass ``mask=`` ([B, K], True = real
    candidate) in the batch when queries have padded candidate lists.
    """

    stage: ClassVar[Stage] = "reranker"

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        check_temperature(temperature)
        self.temperature = temperature

    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        check_scores("listwise-kl", student, teacher)
        mask = batch.get("mask")
        if mask is not None:
            mask = check_mask("listwise-kl", mask, student.shape, what="scores", unit="candidate")
        keep = ~torch.isneginf(student) & ~torch.isneginf(teacher)
        if mask is not None:
            keep = keep & mask.to(keep.device)
        empty = (~keep.any(-1)).nonzero().flatten().tolist()
        if empty:
            raise LossInputError(
                f"listwise-kl: queries at rows {empty[:5]} have no real candidate (all masked "
                f"or -inf); drop them from the batch or give each query at least one candidate"
            )
        return listwise_kl(student, teacher.detach(), temperature=self.temperature, mask=keep)
