"""EmbeddingMSELoss and CosineDistillationLoss against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from ragdistill.losses import LossInputError
from ragdistill.losses.shapes import OrthonormalProjection
from ragdistill.stages.embedder.losses import (
    CosineDistillationLoss,
    EmbeddingMSELoss,
    cosine_distance,
    embedding_mse,
)


def test_mse_hand_computed() -> None:
    student = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    teacher = torch.ones(2, 2)
    # differences 0, 1, 2, 3 -> squares 0, 1, 4, 9 -> mean 3.5
    assert embedding_mse(student, teacher).item() == pytest.approx(3.5)
    assert EmbeddingMSELoss()(student, teacher).item() == pytest.approx(3.5)


def test_mse_normalize() -> None:
    # [3, 4] -> [0.6, 0.8]; against [1, 0]: (0.4**2 + 0.8**2) / 2 = 0.4
    loss = EmbeddingMSELoss(normalize=True)
    assert loss(torch.tensor([[3.0, 4.0]]), torch.tensor([[5.0, 0.0]])).item() == pytest.approx(0.4)


def test_mse_projection_hand_computed_and_gradients() -> None:
    loss = EmbeddingMSELoss(student_dim=2, teacher_dim=3)
    assert isinstance(loss.projection, OrthonormalProjection)
    with torch.no_grad():  # the projection is kept orthonormal: set an orthonormal one
        loss.projection.raw.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    student = torch.tensor([[1.0, 2.0]], requires_grad=True)
    value = loss(student, torch.tensor([[1.0, 1.0, 3.0]]))  # projected [1, 2, 0]: (0+1+9) / 3
    assert value.item() == pytest.approx(10 / 3)
    value.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    [param] = loss.parameters()
    assert param.grad is not None and param.grad.abs().sum() > 0


def test_projection_stays_orthonormal_so_student_similarities_are_kept() -> None:
    loss = EmbeddingMSELoss(student_dim=3, teacher_dim=5)
    optimizer = torch.optim.SGD(loss.parameters(), lr=0.5)
    for _ in range(5):
        optimizer.zero_grad()
        loss(torch.randn(4, 3), torch.randn(4, 5)).backward()
        optimizer.step()
    weight = loss.projection.weight.detach()
    torch.testing.assert_close(weight.T @ weight, torch.eye(3), atol=1e-5, rtol=0)
    a, b = torch.randn(3), torch.randn(3)
    torch.testing.assert_close(weight @ a @ (weight @ b), a @ b, atol=1e-5, rtol=0)


def test_no_projection_when_widths_match() -> None:
    assert EmbeddingMSELoss(student_dim=4, teacher_dim=4).projection is None
    assert EmbeddingMSELoss().projection is None


def test_teacher_gets_no_gradient() -> None:
    teacher = torch.randn(2, 3, requires_grad=True)
    EmbeddingMSELoss()(torch.randn(2, 3, requires_grad=True), teacher).backward()
    assert teacher.grad is None


def test_width_mismatch_without_projection_says_how_to_fix() -> None:
    with pytest.raises(LossInputError, match=r"student_dim=2, teacher_dim=3"):
        EmbeddingMSELoss()(torch.zeros(1, 2), torch.zeros(1, 3))


def test_projection_built_for_other_width() -> None:
    with pytest.raises(LossInputError, match=r"built for student_dim=4"):
        EmbeddingMSELoss(student_dim=4, teacher_dim=3)(torch.zeros(1, 2), torch.zeros(1, 3))


@pytest.mark.parametrize(
    ("student", "teacher", "expected"),
    [
        (torch.zeros(2, 3, 4), torch.zeros(2, 4), r"\[batch, dim\], got \[2, 3, 4\].*pool"),
        (torch.zeros(2, 4), torch.zeros(3, 4), r"different numbers of texts"),
    ],
)
def test_shape_errors(student: torch.Tensor, teacher: torch.Tensor, expected: str) -> None:
    with pytest.raises(LossInputError, match=expected):
        EmbeddingMSELoss()(student, teacher)


def test_cosine_hand_computed() -> None:
    student = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    teacher = torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    # cosines 0 and 1 -> mean of (1 - cos) = 0.5
    assert cosine_distance(student, teacher).item() == pytest.approx(0.5)
    assert CosineDistillationLoss()(student, teacher).item() == pytest.approx(0.5)


def test_cosine_projection_gradients() -> None:
    loss = CosineDistillationLoss(student_dim=3, teacher_dim=5)
    student = torch.randn(4, 3, requires_grad=True)
    loss(student, torch.randn(4, 5)).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert loss.projection is not None
    assert all(p.grad is not None for p in loss.projection.parameters())
