"""ListwiseKLLoss against the softmax/log formula written out."""

from __future__ import annotations

import math

import pytest
import torch

from ragdistill.losses import LossInputError, OptionError
from ragdistill.stages.reranker.losses import ListwiseKLLoss, listwise_kl


def softmax(xs: list[float]) -> list[float]:
    z = sum(math.exp(x) for x in xs)
    return [math.exp(x) / z for x in xs]


def kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def test_against_manual_formula() -> None:
    teacher, student = [1.0, 2.0, 3.0], [0.5, 0.0, -1.0]
    expected = kl(softmax(teacher), softmax(student))
    value = ListwiseKLLoss()(torch.tensor([student]), torch.tensor([teacher]))
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_temperature_scaling() -> None:
    teacher, student = [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]
    expected = 4 * kl(softmax([t / 2 for t in teacher]), [1 / 3] * 3)
    value = listwise_kl(torch.tensor([student]), torch.tensor([teacher]), temperature=2.0)
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_batchmean_over_queries() -> None:
    rows = [([1.0, 2.0], [0.0, 0.0]), ([0.0, 3.0], [1.0, 0.0])]
    expected = sum(kl(softmax(t), softmax(s)) for t, s in rows) / 2
    student = torch.tensor([s for _, s in rows])
    teacher = torch.tensor([t for t, _ in rows])
    assert ListwiseKLLoss()(student, teacher).item() == pytest.approx(expected, rel=1e-6)


def test_mask_drops_padded_candidates() -> None:
    # Row 0 has two real candidates and one pad; row 1 has three.
    student = torch.tensor([[1.0, 1.0, -5.0], [0.0, 1.0, 2.0]], requires_grad=True)
    teacher = torch.tensor([[1.0, 2.0, 99.0], [2.0, 1.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    expected = (
        kl(softmax([1.0, 2.0]), [0.5, 0.5]) + kl(softmax([2.0, 1.0, 0.0]), softmax([0.0, 1.0, 2.0]))
    ) / 2
    value = ListwiseKLLoss()(student, teacher, mask=mask)
    assert value.item() == pytest.approx(expected, rel=1e-6)
    value.backward()
    assert student.grad is not None and torch.isfinite(student.grad).all()
    assert student.grad[0, 2] == 0


def test_neg_inf_counts_as_padding() -> None:
    student = torch.tensor([[1.0, 1.0, 0.0]])
    teacher = torch.tensor([[1.0, 2.0, -math.inf]])
    expected = kl(softmax([1.0, 2.0]), [0.5, 0.5])
    assert ListwiseKLLoss()(student, teacher).item() == pytest.approx(expected, rel=1e-6)


def test_all_masked_row_is_an_error() -> None:
    mask = torch.tensor([[True, True], [False, False]])
    with pytest.raises(LossInputError, match=r"rows \[1\] have no real candidate"):
        ListwiseKLLoss()(torch.zeros(2, 2), torch.zeros(2, 2), mask=mask)


def test_mask_shape_error() -> None:
    with pytest.raises(LossInputError, match=r"mask has shape \[2\] but the scores need \[2, 3\]"):
        ListwiseKLLoss()(torch.zeros(2, 3), torch.zeros(2, 3), mask=torch.ones(2))


def test_temperature_must_be_positive() -> None:
    with pytest.raises(OptionError, match="temperature: must be in > 0"):
        ListwiseKLLoss(temperature=0.0)
