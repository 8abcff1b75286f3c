"""The teacher's sparse top-k distribution, the student's matching one, and a safe KL.

A teacher that stored log-probabilities gives, per answer position, its ``k`` most likely
token ids (``top_ids``, ``[B, T, k]``) and their full-softmax log-probabilities at
temperature 1 (``top_logprobs``; ``sum(exp) <= 1``; a padding slot holds ``-inf``). The
rest of its distribution is unknown, so both models are compared on a coarse set of
outcomes, chosen by ``tail``:

``bucket`` (k + 1 outcomes): the top tokens and one "everything else" bucket.
    Teacher: ``p_i = exp(lp_i)``, ``p_tail = max(0, 1 - sum_i p_i)`` (clamped against
    rounding). Student: ``q_i = softmax(z / T)[top_ids]`` and ``q_tail`` = the student's
    exact mass on every other vocabulary entry (a ``logsumexp`` over the complement, not
    ``1 - sum q_i``, which cancels catastrophically). At temperature ``T`` the teacher's
    outcomes get log-masses ``lp_i / T`` and ``log(p_tail) / T``, normalised over the
    k + 1 outcomes: the tail is tempered as if it were one token. That is exact at
    ``T = 1`` and an approximation otherwise (for ``T > 1`` it gives the tail less mass
    than tempering each tail token would, since ``sum_j p_j**(1/T) >= (sum_j p_j)**(1/T)``).
    When the top-k cover the whole vocabulary the bucket is dropped.
``renormalize`` (k outcomes): both distributions conditioned on the teacher's top-k,
    ``p_i ∝ exp(lp_i / T)`` and ``q_i ∝ exp(z_i / T)``; exact at any ``T``.

Padding slots are excluded from both sides (a padding id may repeat a real one).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor

from ragdistill.losses.base import LossInputError, OptionError
from ragdistill.losses.shapes import as_tensor, shape

Tail = Literal["bucket", "renormalize"]
TAILS: tuple[Tail, ...] = ("bucket", "renormalize")
#: The smallest teacher probability a reverse divergence divides by: an outcome the teacher
#: gives 0 (a tail bucket the top-k fill completely) would make KL(q || p) infinite.
PROB_FLOOR = 1e-8
LOG_FLOOR = math.log(PROB_FLOOR)


def check_tail(tail: str) -> None:
    if tail not in TAILS:
        raise OptionError("tail", f"must be 'bucket' or 'renormalize', got {tail!r}")


def check_fraction(key: str, value: float) -> None:
    """Reject a mixing weight outside ``[0, 1]``."""
    if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
        raise OptionError(key, f"must be in [0, 1], got {value!r}")


def sparse_log_probs(
    student: Tensor,
    top_ids: Tensor,
    top_logprobs: Tensor,
    *,
    temperature: float = 1.0,
    tail: Tail = "bucket",
) -> tuple[Tensor, Tensor, Tensor]:
    """``(log_p, log_q, keep)``: teacher and student log-probabilities over the outcomes.

    Inputs: student logits ``[B, T, V]``, ``top_ids`` and ``top_logprobs`` ``[B, T, k]``.
    Outputs are ``[B, T, k + 1]`` (bucket, last column the tail) or ``[B, T, k]``
    (renormalize); ``keep`` marks the outcomes that exist, and both log-probabilities are
    ``-inf`` elsewhere. A position with no outcome at all (every slot padding, under
    ``renormalize``) has ``keep`` all False and finite values, so it yields 0, not nan.
    """
    valid = torch.isfinite(top_logprobs)
    ids = top_ids.long().masked_fill(~valid, 0)
    z = student.float() / temperature
    top_z = z.gather(-1, ids)
    lp = top_logprobs.float().masked_fill(~valid, -math.inf)
    if tail == "renormalize":
        return _log_normalize(lp / temperature, valid), _log_normalize(top_z, valid), valid
    in_top = torch.zeros_like(z).scatter_add_(-1, ids, valid.to(z.dtype)) > 0
    has_rest = ~in_top.all(-1, keepdim=True)
    rest = torch.where(has_rest, z.masked_fill(in_top, -math.inf), 0.0)
    log_rest = torch.logsumexp(rest, dim=-1, keepdim=True)
    # The top entries and the rest partition the vocabulary, so normalising the k + 1
    # log-masses is the student's own softmax.
    keep = torch.cat([valid, has_rest], dim=-1)
    log_q = _log_normalize(torch.cat([top_z, log_rest], dim=-1), keep)
    mass = lp.exp().sum(-1, keepdim=True).clamp(max=1.0)  # exp(-inf) = 0 for padding
    log_tail = torch.log1p(-mass)  # -inf when the top-k hold all the mass
    log_p = _log_normalize(torch.cat([lp, log_tail], dim=-1) / temperature, keep)
    return log_p, log_q, keep


def _log_normalize(x: Tensor, keep: Tensor) -> Tensor:
    """``log_softmax`` over the kept entries (``-inf`` elsewhere); finite when none is kept."""
    x = torch.where(keep.any(-1, keepdim=True), x.masked_fill(~keep, -math.inf), 0.0)
    return torch.log_softmax(x, dim=-1)


def kl_divergence(log_a: Tensor, log_b: Tensor, keep: Tensor) -> Tensor:
    """``KL(a || b) = sum_i a_i (log a_i - log b_i)`` over the kept outcomes, per position.

    Terms with ``a_i = 0`` are 0. Masked values are replaced before any arithmetic, so no
    ``nan`` appears in the forward pass nor in the gradient.
    """
    live = keep & (log_a > -math.inf)
    la = torch.where(live, log_a, 0.0)
    lb = torch.where(live, log_b, 0.0)
    return torch.where(live, la.exp() * (la - lb), 0.0).sum(-1)


def floor_log(log_p: Tensor) -> Tensor:
    """Teacher log-probabilities raised to at least ``log(PROB_FLOOR)``."""
    return log_p.clamp_min(LOG_FLOOR)


def check_top(
    loss: str, student: Tensor, batch: dict[str, Any], mask: Tensor
) -> tuple[Tensor, Tensor]:
    """The batch's ``top_ids`` and ``top_logprobs``, checked against the logits and the mask."""
    if batch.get("top_ids") is None or batch.get("top_logprobs") is None:
        raise LossInputError(
            f"{loss}: needs the teacher's top-k log-probabilities (top_ids and top_logprobs "
            f"in the batch); set `[generator.labels] top_logprobs = k` (k > 0) in the recipe "
            f"with a teacher that shares the student's tokenizer, or use loss `sequence-kd`, "
            f"which needs only the teacher's tokens"
        )
    ids = as_tensor(loss, "top_ids", batch["top_ids"]).to(student.device)
    logprobs = as_tensor(loss, "top_logprobs", batch["top_logprobs"]).to(student.device)
    if ids.dim() != 3 or ids.shape[:2] != student.shape[:2] or ids.shape != logprobs.shape:
        b, t = student.shape[:2]
        raise LossInputError(
            f"{loss}: top_ids {shape(ids)} and top_logprobs {shape(logprobs)} must both be "
            f"[{b}, {t}, k] to match the logits {shape(student)}: the teacher's k best tokens "
            f"at each answer position, padded with -inf log-probabilities"
        )
    if ids.dtype.is_floating_point or ids.dtype == torch.bool or not logprobs.is_floating_point():
        raise LossInputError(
            f"{loss}: top_ids must hold integer token ids and top_logprobs floats, got "
            f"{ids.dtype} and {logprobs.dtype}; did you swap them?"
        )
    real = mask[..., None] & torch.isfinite(logprobs)
    if bool((real & ((ids < 0) | (ids >= student.shape[-1]))).any()):
        raise LossInputError(
            f"{loss}: top_ids hold ids outside the student's vocabulary of "
            f"{student.shape[-1]}; the teacher's top-k must be ids of the student's tokenizer"
        )
    if bool((mask[..., None] & (torch.isnan(logprobs) | (logprobs > 1e-4))).any()):
        raise LossInputError(
            f"{loss}: top_logprobs must be log-probabilities (<= 0, -inf for padding), "
            f"found nan or positive values; store log_softmax values, not raw logits"
        )
    if bool((mask & ~real.any(-1)).any()):
        raise LossInputError(
            f"{loss}: some answer tokens have no teacher top-k entry (every top_logprob is "
            f"-inf); store at least the top-1 log-probability for each real token"
        )
    return ids, logprobs.detach()
