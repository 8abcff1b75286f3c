"""Token-level KD on the teacher's sparse top-k distribution, mixed with cross-entropy."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from ragdistill.contracts import Stage
from ragdistill.losses.base import DistillationLoss, check_temperature
from ragdistill.losses.text._sparse import (
    Tail,
    check_fraction,
    check_tail,
    check_top,
    kl_divergence,
    sparse_log_probs,
)
from ragdistill.losses.text.sequence_kd import (
    check_answer_batch,
    mix_with_ce,
)


def token_kd(
    student: Tensor,
    targets: Tensor,
    top_ids: Tensor,
    top_logprobs: Tensor,
    *,
    mask: Tensor | None = None,
    row_weight: Tensor | None = None,
    temperature: float = 1.0,
    alpha: float = 0.5,
    tail: Tail = "bucket",
) -> Tensor:
    """``alpha * T**2 * KL(p_T || q_T) + (1 - alpha) * CE`` per real token, weighted mean.

    ``p_T`` and ``q_T`` are the teacher's and the student's distributions over the sparse
    outcomes of :mod:`._sparse` (top-k plus a tail bucket, or the top-k renormalised),
    at temperature ``T``; the ``T**2`` keeps the gradient scale independent of ``T``
    (Hinton et al. 2015). ``CE = -log softmax(z)[y]`` on the teacher's token ``y`` at
    temperature 1. Shapes: logits ``[B, T, V]``, ``targets`` and ``mask`` ``[B, T]``,
    ``top_ids``/``top_logprobs`` ``[B, T, k]``, ``row_weight`` ``[B]``. The mean is
    :func:`~.sequence_kd.weighted_token_mean`'s.
    """

    def forward_kl() -> Tensor:
        log_p, log_q, keep = sparse_log_probs(
            student, top_ids, top_logprobs, temperature=temperature, tail=tail
        )
        return kl_divergence(log_p, log_q, keep) * temperature**2

    return mix_with_ce(forward_kl, student, targets, alpha=alpha, mask=mask, row_weight=row_weight)


class TokenKDLoss(DistillationLoss):
    """``token-kd``: match the teacher's next-token distribution at every answer token.

    The teacher's stored top-k log-probabilities (``[generator.labels] top_logprobs = k``,
    a shared tokenizer) give a sparse distribution; the student is pulled towards it by
    forward KL (mass-covering), ``alpha * T**2 * KL(p_T || q_T)``, plus ``(1 - alpha)``
    times the cross-entropy on the teacher's tokens. ``temperature`` (> 0) softens both,
    ``alpha`` in ``[0, 1]`` weighs the KL against the cross-entropy, ``tail`` chooses how
    the mass outside the top-k is treated (``bucket``: one extra outcome, exact at T = 1;
    ``renormalize``: the top-k only).

    Batch: ``student`` logits ``[B, T, V]``, ``teacher`` ids ``[B, T]``, ``mask``,
    ``top_ids``, ``top_logprobs`` (required), ``row_weight`` (optional).
    """

    stage: ClassVar[Stage] = "generator"
    also_stages: ClassVar[tuple[Stage, ...]] = ("query_transformer",)

    def __init__(self, temperature: float = 1.0, alpha: float = 0.5, tail: Tail = "bucket") -> None:
        super().__init__()
        check_temperature(temperature)
        check_fraction("alpha", alpha)
        check_tail(tail)
        self.temperature = temperature
        self.alpha = alpha
        self.tail: Tail = tail

    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        mask, row_weight = check_answer_batch("token-kd", student, teacher, batch)
        top_ids, top_logprobs = check_top("token-kd", student, batch, mask)
        return token_kd(
            student,
            teacher,
            top_ids,
            top_logprobs,
            mask=mask,
            row_weight=row_weight,
            temperature=self.temperature,
            alpha=self.alpha,
            tail=self.tail,
        )
