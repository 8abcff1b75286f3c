"""Reverse KL on the teacher's sparse top-k distribution (mode-seeking), mixed with CE."""

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
    floor_log,
    kl_divergence,
    sparse_log_probs,
)
from ragdistill.losses.text.sequence_kd import check_answer_batch, mix_with_ce


def sparse_reverse_kl(
    student: Tensor,
    targets: Tensor,
    top_ids: Tensor,
    top_logprobs: Tensor,
    *,
    mask: Tensor | None = None,
    row_weight: Tensor | None = None,
    temperature: float = 1.0,
    alpha: float = 1.0,
    tail: Tail = "bucket",
) -> Tensor:
    """``alpha * T**2 * KL(q_T || p_T) + (1 - alpha) * CE`` per real token, weighted mean.

    ``KL(q || p) = sum_i q_i (log q_i - log p_i)`` over the sparse outcomes of
    :mod:`._sparse`, with the student's distribution ``q`` first: the student is punished
    for mass where the teacher has little, not for missing some of the teacher's modes
    (mode-seeking; MiniLLM, Gu et al. 2023). An outcome the teacher gives probability 0
    (a tail bucket its top-k fill exactly) would make the divergence infinite, so the
    teacher's probabilities are raised to at least ``PROB_FLOOR = 1e-8`` (not
    renormalised) in this loss. ``CE`` is the cross-entropy on the teacher's tokens at
    temperature 1; shapes and the mean are :func:`~.token_kd.token_kd`'s.
    """

    def reverse() -> Tensor:
        log_p, log_q, keep = sparse_log_probs(
            student, top_ids, top_logprobs, temperature=temperature, tail=tail
        )
        return kl_divergence(log_q, floor_log(log_p), keep) * temperature**2

    return mix_with_ce(reverse, student, targets, alpha=alpha, mask=mask, row_weight=row_weight)


class ReverseKLLoss(DistillationLoss):
    """``reverse-kl``: the student concentrates on the teacher's likely tokens.

    ``T**2 * KL(q_T || p_T)`` between the student's and the teacher's sparse top-k
    distributions (needs ``[generator.labels] top_logprobs = k`` and a shared tokenizer).
    Reverse KL is mode-seeking: a small student is not forced to spread mass over every
    continuation the teacher considers (Gu et al. 2023, MiniLLM). ``alpha`` in ``[0, 1]``
    (default 1: pure reverse KL) mixes in ``(1 - alpha)`` times the cross-entropy on the
    teacher's tokens; ``temperature`` > 0; ``tail`` as for ``token-kd``. Teacher
    probabilities are floored at 1e-8 so an empty tail bucket stays finite.

    Batch: ``student`` logits ``[B, T, V]``, ``teacher`` ids ``[B, T]``, ``mask``,
    ``top_ids``, ``top_logprobs`` (required), ``row_weight`` (optional).
    """

    stage: ClassVar[Stage] = "generator"
    also_stages: ClassVar[tuple[Stage, ...]] = ("query_transformer",)

    def __init__(self, temperature: float = 1.0, alpha: float = 1.0, tail: Tail = "bucket") -> None:
        super().__init__()
        check_temperature(temperature)
        check_fraction("alpha", alpha)
        check_tail(tail)
        self.temperature = temperature
        self.alpha = alpha
        self.tail: Tail = tail

    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        mask, row_weight = check_answer_batch("reverse-kl", student, teacher, batch)
        top_ids, top_logprobs = check_top("reverse-kl", student, batch, mask)
        return sparse_reverse_kl(
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
