"""NTXentLoss on a 2x2 batch with known cosines."""

from __future__ import annotations

import math

import pytest
import torch

from ragdistill.losses import OptionError
from ragdistill.stages.embedder.losses import NTXentLoss, ntxent

STUDENT = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
TEACHER = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
# cos(s_i, t_j) = [[1, 1/sqrt2], [0, 1/sqrt2]]; at T = 0.5 the logits are
# [[2, sqrt2], [0, sqrt2]], the diagonal being the targets.
R2 = math.sqrt(2)
ROWS = (math.log(1 + math.exp(R2 - 2)) + math.log(1 + math.exp(-R2))) / 2
COLS = (math.log(1 + math.exp(-2)) + math.log(2)) / 2


def test_one_direction() -> None:
    value = ntxent(STUDENT, TEACHER, temperature=0.5, symmetric=False)
    assert value.item() == pytest.approx(ROWS, rel=1e-6)


def test_symmetric_averages_both_directions() -> None:
    value = NTXentLoss(temperature=0.5)(STUDENT, TEACHER)
    assert value.item() == pytest.approx((ROWS + COLS) / 2, rel=1e-6)


def test_scale_invariant() -> None:
    a = ntxent(STUDENT * 3, TEACHER * 0.1, temperature=0.5)
    assert a.item() == pytest.approx(ntxent(STUDENT, TEACHER, temperature=0.5).item(), rel=1e-6)


@pytest.mark.parametrize("temperature", [0.0, -0.1, 1.5, float("nan")])
def test_temperature_range(temperature: float) -> None:
    with pytest.raises(OptionError, match=r"temperature: must be in \(0, 1.0\]"):
        NTXentLoss(temperature=temperature)


def test_projection_and_gradients() -> None:
    loss = NTXentLoss(student_dim=3, teacher_dim=6)
    student = torch.randn(5, 3, requires_grad=True)
    loss(student, torch.randn(5, 6)).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert loss.projection is not None
    [param] = loss.projection.parameters()
    assert param.grad is not None
    assert param.grad.abs().sum() > 0


def test_batch_of_one_has_no_negatives() -> None:
    assert NTXentLoss()(torch.randn(1, 4), torch.randn(1, 4)).item() == pytest.approx(0.0)
