"""The generalized Jensen-Shannon divergence of GKD on the sparse top-k distributions."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
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


def jsd_beta(log_p: Tensor, log_q: Tensor, keep: Tensor, beta: float) -> Tensor:
    """``JSD_beta(p, q)`` per position over the kept outcomes (see :func:`generalized_jsd`)."""
    if beta == 0:
        return kl_divergence(log_p, log_q, keep)
    if beta == 1:
        return kl_divergence(log_q, floor_log(log_p), keep)
    # Masked outcomes are set to 0 first: a logsumexp of two -inf has a nan gradient.
    lp = torch.where(keep, log_p, 0.0)
    lq = torch.where(keep, log_q, 0.0)
    log_m = torch.logsumexp(torch.stack([lp + math.log(beta), lq + math.log1p(-beta)]), dim=0)
    return beta * kl_divergence(log_p, log_m, keep) + (1 - beta) * kl_divergence(log_q, log_m, keep)


def generalized_jsd(
    student: Tensor,
    targets: Tensor,
    top_ids: Tensor,
    top_logprobs: Tensor,
    *,
    mask: Tensor | None = None,
    row_weight: Tensor | None = None,
    beta: float = 0.5,
    temperature: float = 1.0,
    alpha: float = 1.0,
    tail: Tail = "bucket",
) -> Tensor:
    """``alpha * T**2 * JSD_beta(p_T, q_T) + (1 - alpha) * CE`` per real token, weighted mean.

    ``p`` is the teacher's and ``q`` the student's distribution over the sparse outcomes
    of :mod:`._sparse`. For ``0 < beta < 1``, with the mixture ``m = beta * p +
    (1 - beta) * q``::

        JSD_beta(p, q) = beta * KL(p || m) + (1 - beta) * KL(q || m)

    (GKD, Agarwal et al. 2024, Eq. 1). ``beta = 0.5`` is the symmetric Jensen-Shannon
    divergence, bounded by ``log 2``. The ends are set explicitly: ``beta = 0`` gives the
    forward ``KL(p || q)`` and ``beta = 1`` the reverse ``KL(q || p)`` (the teacher floored
    at 1e-8 as in ``reverse-kl``). They are *not* the limits of the mixture form, which
    tends to 0 at both ends, but of ``JSD_beta / beta`` (``beta -> 0``) and
    ``JSD_beta / (1 - beta)`` (``beta -> 1``): the divergences whose gradients
    ``JSD_beta`` approaches there. This is TRL's ``generalized_jsd_loss`` convention
    (``beta`` weighs the teacher in the mixture), times ``T**2`` like the other generator
    losses (TRL does not scale; the two agree at the default ``T = 1``). ``CE`` is the
    cross-entropy on the teacher's tokens at temperature 1; shapes and the mean are
    :func:`~.token_kd.token_kd`'s.
    """

    def divergence() -> Tensor:
        log_p, log_q, keep = sparse_log_probs(
            student, top_ids, top_logprobs, temperature=temperature, tail=tail
        )
        return jsd_beta(log_p, log_q, keep, beta) * temperature**2

    return mix_with_ce(divergence, student, targets, alpha=alpha, mask=mask, row_weight=row_weight)


class GeneralizedJSDLoss(DistillationLoss):
    """``gjsd``: GKD's generalized Jensen-Shannon divergence on the teacher's top-k.

    Interpolates between forward KL (``beta = 0``, mass-covering, as ``token-kd``) and
    reverse KL (``beta = 1``, mode-seeking, as ``reverse-kl``); ``beta = 0.5`` (default)
    is the symmetric, bounded Jensen-Shannon divergence (Agarwal et al. 2024, TRL's
    ``generalized_jsd_loss``). Needs ``[generator.labels] top_logprobs = k`` and a shared
    tokenizer. ``alpha`` in ``[0, 1]`` (default 1) mixes in ``(1 - alpha)`` times the
    cross-entropy on the teacher's tokens; ``temperature`` > 0 (loss scaled by ``T**2``);
    ``tail`` as for ``token-kd``.

    Batch: ``student`` logits ``[B, T, V]``, ``teacher`` ids ``[B, T]``, ``mask``,
    ``top_ids``, ``top_logprobs`` (required), ``row_weight`` (optional).
    """

    stage: ClassVar[Stage] = "generator"
    also_stages: ClassVar[tuple[Stage, ...]] = ("query_transformer",)

    def __init__(
        self,
        beta: float = 0.5,
        temperature: float = 1.0,
        alpha: float = 1.0,
        tail: Tail = "bucket",
    ) -> None:
        super().__init__()
        check_fraction("beta", beta)
        check_temperature(temperature)
        check_fraction("alpha", alpha)
        check_tail(tail)
        self.beta = beta
        self.temperature = temperature
        self.alpha = alpha
        self.tail: Tail = tail

    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        mask, row_weight = check_answer_batch("gjsd", student, teacher, batch)
        top_ids, top_logprobs = check_top("gjsd", student, batch, mask)
        return generalized_jsd(
            student,
            teacher,
            top_ids,
            top_logprobs,
            mask=mask,
            row_weight=row_weight,
            beta=self.beta,
            temperature=self.temperature,
            alpha=self.alpha,
            tail=self.tail,
        )
