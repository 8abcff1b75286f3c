"""In-batch similarity distillation: match the student's neighbour distribution to the teacher's."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from ragdistill.contracts import Stage
from ragdistill.losses.base import DistillationLoss, check_temperature
from ragdistill.losses.shapes import check_embeddings


def similarity_kl(
    student: Tensor, teacher: Tensor, *, temperature: float, teacher_temperature: float
) -> Tensor:
    """Mean over rows i of ``KL(p_i || q_i)``, with ``j != i`` only.

    ``p_i = softmax_j(cos(t_i, t_j) / teacher_temperature)`` is how the teacher spreads
    text i's neighbours over the rest of the batch, ``q_i`` the same from the student's
    embeddings at ``temperature``. Only each model's own cosines enter, so the widths may
    differ and no projection is learned: what the student learns is exactly the geometry
    retrieval reads. Inputs ``[B, D_s]`` and ``[B, D_t]``; a batch of two or fewer gives 0
    (a row has at most one neighbour, whose probability is 1 for both models).
    """
    s = F.normalize(student.float(), dim=-1)
    t = F.normalize(teacher.float(), dim=-1)
    n = s.shape[0]
    if n <= 2:
        return (s.sum() * 0.0).reshape(())
    # Dropping the diagonal (each text is its own nearest neighbour for both models).
    off = ~torch.eye(n, dtype=torch.bool, device=s.device)
    s_logits = (s @ s.T)[off].reshape(n, n - 1) / temperature
    t_logits = (t @ t.T)[off].reshape(n, n - 1) / teacher_temperature
    return F.kl_div(
        F.log_softmax(s_logits, dim=-1),
        F.log_softmax(t_logits, dim=-1),
        log_target=True,
        reduction="batchmean",
    )


class SimilarityKLLoss(DistillationLoss):
    """Teach the student which texts of the batch the teacher finds similar, and how much.

    Where ``cosine``/``mse``/``ntxent`` pull each student vector towards the teacher's
    (through a learned projection when widths differ), this loss leaves the coordinates
    free and matches the student's in-batch similarity distribution to the teacher's:
    query-to-passage and passage-to-passage alike, which is what a retriever ranks by.
    Mixed batches of passages and queries teach it most. ``temperature`` (student) and
    ``teacher_temperature`` (defaults to the same) are in (0, 1]; 0.05 suits cosines.
    """

    stage: ClassVar[Stage] = "embedder"

    def __init__(self, temperature: float = 0.05, teacher_temperature: float | None = None) -> None:
        super().__init__()
        check_temperature(temperature, upper=1.0)
        if teacher_temperature is not None:
            check_temperature(teacher_temperature, upper=1.0)
        self.temperature = temperature
        self.teacher_temperature = teacher_temperature or temperature

    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        check_embeddings("similarity-kl", student, teacher)
        return similarity_kl(
            student,
            teacher.detach(),
            temperature=self.temperature,
            teacher_temperature=self.teacher_temperature,
        )
