"""Sequence-level KD: cross-entropy of the student on the teacher's answer tokens.

Also the pieces every generator loss shares: the per-token cross-entropy, the weighted
mean over real answer tokens and the checks of the batch's logits, tokens and mask.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from ragdistill.contracts import Stage
from ragdistill.losses.base import DistillationLoss, LossInputError, OptionError
from ragdistill.losses.shapes import as_tensor, check_mask, shape

#: Denominator floor of the weighted token mean: 0 / floor = 0 when no token is real.
_TINY = 1e-12


def token_cross_entropy(
    student: Tensor, targets: Tensor, *, label_smoothing: float = 0.0
) -> Tensor:
    """``-log softmax(student)[target]`` per position, ``[B, T]``; logits ``[B, T, V]``.

    With ``label_smoothing = e`` the target is ``(1 - e) * onehot + e / V`` (as
    :func:`torch.nn.functional.cross_entropy`). ``targets`` must be in ``[0, V)``
    everywhere: replace the ids at padding positions before calling.
    """
    b, t, v = student.shape
    ce = F.cross_entropy(
        student.float().reshape(b * t, v),
        targets.long().reshape(b * t),
        reduction="none",
        label_smoothing=label_smoothing,
    )
    return ce.view(b, t)


def weighted_token_mean(
    per_token: Tensor, mask: Tensor | None = None, row_weight: Tensor | None = None
) -> Tensor:
    """``sum_bt w_b m_bt l_bt / sum_bt w_b m_bt``: the mean over real tokens (``mask``),
    each row weighted by ``row_weight`` (``[B]``; 1 when None). 0, still attached to the
    graph, when no token is real or every weight is 0. Masked values must be finite."""
    weights = torch.ones_like(per_token) if mask is None else mask.to(per_token.dtype)
    if row_weight is not None:
        weights = weights * row_weight.to(per_token)[:, None]
    real = weights > 0
    total = torch.where(real, per_token, 0.0) * weights
    return total.sum() / weights.sum().clamp_min(_TINY)


def safe_targets(targets: Tensor, mask: Tensor | None) -> Tensor:
    """``targets`` with the ids at padding positions set to 0, so they can be gathered."""
    return targets.long() if mask is None else targets.long().masked_fill(~mask.bool(), 0)


def mix_with_ce(
    divergence: Callable[[], Tensor],
    student: Tensor,
    targets: Tensor,
    *,
    alpha: float,
    mask: Tensor | None,
    row_weight: Tensor | None,
) -> Tensor:
    """The weighted token mean of ``alpha * divergence() + (1 - alpha) * CE``.

    ``divergence`` returns a ``[B, T]`` per-token divergence; it is called only when
    ``alpha > 0``, and the cross-entropy (temperature 1) only when ``alpha < 1``.
    """
    if alpha >= 1:
        per_token = divergence()
    else:
        per_token = token_cross_entropy(student, safe_targets(targets, mask))
        if alpha > 0:
            per_token = alpha * divergence() + (1 - alpha) * per_token
    return weighted_token_mean(per_token, mask, row_weight)


def sequence_kd(
    student: Tensor,
    targets: Tensor,
    *,
    mask: Tensor | None = None,
    row_weight: Tensor | None = None,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy of the student on the teacher's tokens (Kim & Rush 2016).

    ``student`` logits ``[B, T, V]``, already shifted so position t predicts answer token t;
    ``targets`` the teacher's ids ``[B, T]``; ``mask`` ``[B, T]`` True for real answer
    tokens (None: all). Per token ``l = -log softmax(z)[y]`` (smoothed as in
    :func:`token_cross_entropy`), averaged as :func:`weighted_token_mean`.
    """
    ce = token_cross_entropy(student, safe_targets(targets, mask), label_smoothing=label_smoothing)
    return weighted_token_mean(ce, mask, row_weight)


class SequenceKDLoss(DistillationLoss):
    """``sequence-kd``: learn the teacher's answers as text, token by token.

    The student is trained with cross-entropy on the tokens the teacher generated
    (sequence-level knowledge distillation, Kim & Rush 2016). Needs only the teacher's
    token ids, so the two models need not share a tokenizer when the answers are
    re-tokenised for the student. ``label_smoothing`` in ``[0, 1)`` moves that share of
    the target onto a uniform distribution over the vocabulary.

    Batch: ``student`` logits ``[B, T, V]``, ``teacher`` ids ``[B, T]``, ``mask``
    ``[B, T]`` (required) and optionally ``row_weight`` ``[B]``.
    """

    stage: ClassVar[Stage] = "generator"
    also_stages: ClassVar[tuple[Stage, ...]] = ("query_transformer",)

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise OptionError("label_smoothing", f"must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = label_smoothing

    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        mask, row_weight = check_answer_batch("sequence-kd", student, teacher, batch)
        return sequence_kd(
            student,
            teacher,
            mask=mask,
            row_weight=row_weight,
            label_smoothing=self.label_smoothing,
        )


def check_answer_batch(
    loss: str, student: Tensor, teacher: Tensor, batch: dict[str, Any]
) -> tuple[Tensor, Tensor | None]:
    """Check the logits, the teacher's tokens, ``mask`` and ``row_weight``; return the last
    two on the student's device (``mask`` as bool)."""
    as_tensor(loss, "student", student)
    as_tensor(loss, "teacher", teacher)
    if student.dim() != 3:
        raise LossInputError(
            f"{loss}: expected student logits of shape [batch, tokens, vocab], got "
            f"{shape(student)}; pass the model's logits at the answer positions"
        )
    if teacher.dim() != 2 or teacher.is_floating_point() or teacher.dtype == torch.bool:
        raise LossInputError(
            f"{loss}: expected the teacher's answer token ids, an integer tensor of shape "
            f"[batch, tokens], got {teacher.dtype} {shape(teacher)}; for the teacher's full "
            f"logits use loss `logit-kl`"
        )
    if teacher.shape != student.shape[:2]:
        raise LossInputError(
            f"{loss}: teacher tokens {shape(teacher)} and student logits {shape(student)} "
            f"cover different positions; position t of the logits must predict token t"
        )
    if batch.get("mask") is None:
        raise LossInputError(
            f"{loss}: needs mask= in the batch ([batch, tokens], True for real answer "
            f"tokens, False for padding)"
        )
    mask = check_mask(loss, batch["mask"], teacher.shape, what="answer tokens", unit="token")
    mask = mask.to(student.device)
    if bool((mask & ((teacher < 0) | (teacher >= student.shape[-1])).to(mask.device)).any()):
        raise LossInputError(
            f"{loss}: teacher token ids fall outside the student's vocabulary of "
            f"{student.shape[-1]}; tokenize the teacher's answers with the student's tokenizer"
        )
    row_weight = batch.get("row_weight")
    if row_weight is not None:
        row_weight = as_tensor(loss, "row_weight", row_weight).to(student.device)
        if row_weight.shape != teacher.shape[:1]:
            raise LossInputError(
                f"{loss}: row_weight has shape {shape(row_weight)} but the batch has "
                f"{teacher.shape[0]} rows; pass one weight per row"
            )
        if not bool((torch.isfinite(row_weight) & (row_weight >= 0)).all()):
            raise LossInputError(f"{loss}: row_weight must be finite and >= 0")
    return mask, row_weight
