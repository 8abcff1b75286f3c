"""Token-level KL between a student's and a teacher's next-token distributions."""

from __future__ import annotations

from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor

from ragdistill.contracts import Stage
from ragdistill.losses.base import DistillationLoss, LossInputError, check_temperature
from ragdistill.losses.shapes import as_tensor, check_mask, shape


def logit_kl(
    student: Tensor,
    teacher: Tensor,
    *,
    temperature: float = 2.0,
    reverse: bool = False,
    mask: Tensor | None = None,
) -> Tensor:
    """``T**2 * KL`` per token between ``softmax(logits / T)`` of both models, averaged over
    the tokens where ``mask`` ([B, T], True/1 = real) is set; logits ``[B, T, V]``.

    Forward KL(teacher || student) by default (the student covers all of the teacher's
    mass); ``reverse`` gives KL(student || teacher), which is mode-seeking (Gu et al.,
    MiniLLM). With no real token the result is 0 (still attached to the graph).
    """
    log_s = F.log_softmax(student.float() / temperature, dim=-1)
    log_t = F.log_softmax(teacher.float() / temperature, dim=-1)
    if reverse:
        per_token = F.kl_div(log_t, log_s, log_target=True, reduction="none").sum(-1)
    else:
        per_token = F.kl_div(log_s, log_t, log_target=True, reduction="none").sum(-1)
    if mask is None:
        loss = per_token.mean()
    else:
        weights = mask.to(per_token.dtype)
        loss = (per_token * weights).sum() / weights.sum().clamp_min(1.0)
    return loss * temperature**2


class LogitKLLoss(DistillationLoss):
    """Distill a language model token by token from the teacher's logits (Hinton et al. 2015).

    Both models must share a tokenizer: the logits are compared entry by entry over the
    vocabulary. ``temperature`` softens both distributions (loss scaled by ``T**2``);
    ``reverse = true`` uses KL(student || teacher). Pass ``mask=`` ([B, T], 1 for tokens to
    learn, 0 for prompt and padding) in the batch to average over the answer tokens only.
    Applies to query transformers too, which are language models as well.
    """

    stage: ClassVar[Stage] = "generator"
    also_stages: ClassVar[tuple[Stage, ...]] = ("query_transformer",)

    def __init__(self, temperature: float = 2.0, reverse: bool = False) -> None:
        super().__init__()
        check_temperature(temperature)
        self.temperature = temperature
        self.reverse = reverse

    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        _check_logits(student, teacher)
        mask = batch.get("mask")
        if mask is not None:
            mask = check_mask("logit-kl", mask, student.shape[:2], what="logits", unit="token")
            mask = mask.to(student.device)
        return logit_kl(
            student,
            teacher.detach(),
            temperature=self.temperature,
            reverse=self.reverse,
            mask=mask,
        )


def _check_logits(student: Tensor, teacher: Tensor) -> None:
    as_tensor("logit-kl", "student", student)
    as_tensor("logit-kl", "teacher", teacher)
    for role, t in (("student", student), ("teacher", teacher)):
        if t.dim() != 3:
            raise LossInputError(
                f"logit-kl: expected {role} logits of shape [batch, tokens, vocab], got "
                f"{shape(t)}; pass the model's full logits (outputs.logits), not token ids "
                f"or a flattened view"
            )
    if student.shape[-1] != teacher.shape[-1]:
        raise LossInputError(
            f"logit-kl: the student's vocabulary has {student.shape[-1]} entries and the "
            f"teacher's {teacher.shape[-1]} (logits {shape(student)} vs {shape(teacher)}); "
            f"token-level KL needs a shared tokenizer. If one model's output layer is padded "
            f"past the tokenizer's vocabulary, slice both to it (logits[..., :len(tokenizer)]); "
            f"otherwise distill from the teacher's generated text (sequence-level) instead"
        )
    if student.shape[:2] != teacher.shape[:2]:
        raise LossInputError(
            f"logit-kl: student logits {shape(student)} and teacher logits {shape(teacher)} "
            f"cover different tokens; run both models on the same input_ids so position t "
            f"predicts the same next token"
        )
