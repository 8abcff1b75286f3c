"""MatryoshkaLoss equals the weighted sum of its inner losses on prefix slices."""

from __future__ import annotations

import pytest
import torch

from ragdistill.errors import ConfigError
from ragdistill.losses import LossInputError, OptionError
from ragdistill.stages.embedder.losses import EmbeddingMSELoss, MatryoshkaLoss, NTXentLoss


def test_hand_computed_mse() -> None:
    loss = MatryoshkaLoss(
        inner="mse", dims=[1, 2], weights=[1.0, 0.5], student_dim=2, teacher_dim=2
    )
    narrow, full = loss.losses
    assert full.projection is None  # width 2 already matches the teacher
    with torch.no_grad():
        narrow.projection.raw.copy_(torch.tensor([[0.6], [0.8]]))  # orthonormal, as kept
    student, teacher = torch.tensor([[1.0, 5.0]]), torch.tensor([[2.0, 4.0]])
    # width 1: [1] -> [0.6, 0.8] vs [2, 4] -> (1.4**2 + 3.2**2) / 2 = 6.1
    # width 2: [1, 5] vs [2, 4] -> (1 + 1) / 2 = 1.0
    assert loss(student, teacher).item() == pytest.approx(1.0 * 6.1 + 0.5 * 1.0)


def test_equals_weighted_sum_of_inner_on_slices() -> None:
    torch.manual_seed(0)
    loss = MatryoshkaLoss(
        inner="ntxent", dims=[2, 4, 8], weights=[0.2, 0.3, 1.0], student_dim=8, teacher_dim=6,
        temperature=0.1,
    )  # fmt: skip
    assert all(isinstance(inner, NTXentLoss) and inner.temperature == 0.1 for inner in loss.losses)
    student, teacher = torch.randn(4, 8), torch.randn(4, 6)
    with torch.no_grad():
        expected = sum(
            w * inner(student[:, :d], teacher)
            for d, w, inner in zip([2, 4, 8], [0.2, 0.3, 1.0], loss.losses)
        )
        assert loss(student, teacher).item() == pytest.approx(float(expected), rel=1e-6)


def test_each_width_has_its_own_projection_and_all_get_gradients() -> None:
    loss = MatryoshkaLoss(inner="mse", dims=[2, 3], student_dim=4, teacher_dim=5)
    widths = [inner.projection.in_features for inner in loss.losses]
    assert widths == [2, 3]
    student = torch.randn(3, 4, requires_grad=True)
    loss(student, torch.randn(3, 5)).backward()
    assert student.grad is not None
    assert student.grad[:, :3].abs().sum() > 0
    assert student.grad[:, 3].abs().sum() == 0  # width 4 is in no prefix
    assert all(p.grad is not None for p in loss.parameters())


def test_defaults() -> None:
    loss = MatryoshkaLoss()
    assert loss.dims == [64, 128, 256, 384]
    assert loss.weights == [1.0] * 4
    assert all(isinstance(inner, EmbeddingMSELoss) for inner in loss.losses)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"dims": [4, 2]}, r"dims: must be strictly ascending"),
        ({"dims": []}, r"dims: must be a non-empty list"),
        ({"dims": [2, 64], "student_dim": 32}, r"dims: 64 exceeds the student's embedding width"),
        ({"dims": [2, 4], "weights": [1.0]}, r"weights: needs one weight per dim"),
        ({"dims": [2, 4], "weights": [1.0, -1.0]}, r"weights: must be finite and >= 0"),
    ],
)
def test_option_errors(kwargs: dict, expected: str) -> None:
    with pytest.raises(OptionError, match=expected):
        MatryoshkaLoss(**kwargs)


def test_inner_options_validated() -> None:
    with pytest.raises(ConfigError, match=r"temprature: unknown key; did you mean 'temperature'"):
        MatryoshkaLoss(inner="ntxent", dims=[2], temprature=0.1)


def test_check_options_suggests_from_both_tables() -> None:
    opts = MatryoshkaLoss.check_options(
        {"inner": "ntxent", "dims": [2, 4], "temperature": 0.1}, where="losses[0]"
    )
    assert opts == {"inner": "ntxent", "dims": [2, 4], "temperature": 0.1}
    with pytest.raises(ConfigError, match=r"losses\[0\]\.dimz: .*did you mean 'dims'"):
        MatryoshkaLoss.check_options({"inner": "mse", "dimz": [2]}, where="losses[0]")
    with pytest.raises(ConfigError, match=r"losses\[0\]\.temperature: unknown key for matryoshka"):
        MatryoshkaLoss.check_options({"inner": "mse", "temperature": 0.1}, where="losses[0]")


def test_student_narrower_than_dims() -> None:
    loss = MatryoshkaLoss(dims=[2, 8])
    with pytest.raises(LossInputError, match=r"dims go up to 8"):
        loss(torch.zeros(2, 4), torch.zeros(2, 4))
