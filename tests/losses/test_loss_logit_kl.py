"""LogitKLLoss: T**2 scaling, forward and reverse KL, masking, shape errors."""

from __future__ import annotations

import math

import pytest
import torch

from ragdistill.losses import LogitKLLoss, LossInputError, logit_kl

LN3 = math.log(3)
# Token 0: teacher softmax [3/4, 1/4], student softmax [1/2, 1/2]. Token 1: both uniform.
FORWARD0 = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
REVERSE0 = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)


def logits(t0: list[float], t1: list[float]) -> torch.Tensor:
    return torch.tensor([[t0, t1]], dtype=torch.float32)


def test_forward_kl_averaged_over_tokens() -> None:
    value = LogitKLLoss(temperature=1.0)(logits([0, 0], [0, 0]), logits([LN3, 0], [0, 0]))
    assert value.item() == pytest.approx(FORWARD0 / 2, rel=1e-6)


def test_reverse_kl() -> None:
    loss = LogitKLLoss(temperature=1.0, reverse=True)
    value = loss(logits([0, 0], [0, 0]), logits([LN3, 0], [0, 0]))
    assert value.item() == pytest.approx(REVERSE0 / 2, rel=1e-6)


def test_temperature_squared_scaling() -> None:
    # Doubling the teacher logits and using T = 2 gives the same softmaxes, times 4.
    value = logit_kl(logits([0, 0], [0, 0]), logits([2 * LN3, 0], [0, 0]), temperature=2.0)
    assert value.item() == pytest.approx(4 * FORWARD0 / 2, rel=1e-6)


def test_mask_averages_over_real_tokens_only() -> None:
    student = logits([0, 0], [9, -9]).requires_grad_(True)
    teacher = logits([LN3, 0], [-9, 9])  # token 1 disagrees wildly but is masked out
    value = LogitKLLoss(temperature=1.0)(student, teacher, mask=torch.tensor([[1, 0]]))
    assert value.item() == pytest.approx(FORWARD0, rel=1e-6)
    value.backward()
    assert student.grad is not None
    assert student.grad[0, 0].abs().sum() > 0
    assert student.grad[0, 1].abs().sum() == 0


def test_fully_masked_batch_is_zero() -> None:
    student = torch.randn(1, 2, 5, requires_grad=True)
    value = LogitKLLoss()(student, torch.randn(1, 2, 5), mask=torch.zeros(1, 2))
    assert value.item() == 0.0
    value.backward()


def test_vocab_mismatch_is_explained() -> None:
    with pytest.raises(LossInputError, match=r"vocabulary has 5 entries and the teacher's 7.*"):
        LogitKLLoss()(torch.zeros(1, 2, 5), torch.zeros(1, 2, 7))


def test_sequence_mismatch() -> None:
    with pytest.raises(LossInputError, match=r"same input_ids"):
        LogitKLLoss()(torch.zeros(1, 2, 5), torch.zeros(1, 3, 5))


def test_needs_3d_logits() -> None:
    with pytest.raises(LossInputError, match=r"\[batch, tokens, vocab\], got \[2, 5\]"):
        LogitKLLoss()(torch.zeros(2, 5), torch.zeros(2, 5))


def test_mask_shape() -> None:
    with pytest.raises(LossInputError, match=r"mask has shape \[2, 3\] but the logits need"):
        LogitKLLoss()(torch.zeros(2, 4, 5), torch.zeros(2, 4, 5), mask=torch.ones(2, 3))


def test_serves_query_transformers_too() -> None:
    assert LogitKLLoss.supports("generator")
    assert LogitKLLoss.supports("query_transformer")
    assert not LogitKLLoss.supports("embedder")
