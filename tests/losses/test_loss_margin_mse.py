"""MarginMSELoss and PointwiseMSELoss on given numbers."""

from __future__ import annotations

import pytest
import torch

from ragdistill.losses import LossInputError, OptionError
from ragdistill.stages.reranker.losses import (
    MarginMSELoss,
    PointwiseMSELoss,
    margin_mse,
    pointwise_mse,
)

# Column 0 is the positive. Student margins [2, 1], teacher margins [4, 1].
STUDENT = torch.tensor([[3.0, 1.0, 2.0]])
TEACHER = torch.tensor([[5.0, 1.0, 4.0]])


def test_squared() -> None:
    # ((2 - 4)**2 + (1 - 1)**2) / 2
    assert margin_mse(STUDENT, TEACHER).item() == pytest.approx(2.0)
    assert MarginMSELoss()(STUDENT, TEACHER).item() == pytest.approx(2.0)


@pytest.mark.parametrize(("margin", "expected"), [(0.0, 1.0), (0.5, 1.5), (-3.0, 0.0)])
def test_hinge(margin: float, expected: float) -> None:
    # mean(relu([4 - 2 + m, 1 - 1 + m]))
    loss = MarginMSELoss(form="hinge", margin=margin)
    assert loss(STUDENT, TEACHER).item() == pytest.approx(expected)


def test_invariant_to_a_shift_of_the_student_scores() -> None:
    assert MarginMSELoss()(STUDENT + 100, TEACHER).item() == pytest.approx(2.0)


def test_gradients_flow_to_student_only() -> None:
    student = STUDENT.clone().requires_grad_(True)
    teacher = TEACHER.clone().requires_grad_(True)
    MarginMSELoss()(student, teacher).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None


def test_margin_needs_hinge() -> None:
    with pytest.raises(OptionError, match=r"margin: is used only with form = 'hinge'"):
        MarginMSELoss(margin=1.0)


def test_needs_two_candidates() -> None:
    with pytest.raises(LossInputError, match=r"at least 2 candidates.*hard negatives"):
        MarginMSELoss()(torch.zeros(4, 1), torch.zeros(4, 1))


def test_flat_scores_rejected_with_fix() -> None:
    with pytest.raises(LossInputError, match=r"\[queries, candidates\], got \[6\].*view"):
        MarginMSELoss()(torch.zeros(6), torch.zeros(6))


def test_mismatched_shapes() -> None:
    with pytest.raises(LossInputError, match=r"\[2, 3\] and teacher scores \[2, 4\]"):
        MarginMSELoss()(torch.zeros(2, 3), torch.zeros(2, 4))


def test_pointwise() -> None:
    # squares 4, 0, 4 -> mean 8 / 3
    assert pointwise_mse(STUDENT, TEACHER).item() == pytest.approx(8 / 3)
    student = STUDENT.clone().requires_grad_(True)
    value = PointwiseMSELoss()(student, TEACHER)
    assert value.item() == pytest.approx(8 / 3)
    value.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
