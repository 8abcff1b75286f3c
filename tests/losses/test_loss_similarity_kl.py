"""SimilarityKLLoss on a 3-text batch with known cosines."""

from __future__ import annotations

import math

import pytest
import torch

from ragdistill.losses import OptionError
from ragdistill.stages.embedder.losses import SimilarityKLLoss, similarity_kl

# Student cosines: s1.s2 = 0, s1.s3 = s2.s3 = 1/sqrt2. Teacher: t1.t2 = 1, t1.t3 = t2.t3 = 0.
STUDENT = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
TEACHER = torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
R = 1 / math.sqrt(2)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def expected(temperature: float, teacher_temperature: float) -> float:
    # Rows 1 and 2: teacher logits [1, 0] / Tt over (the other of 1-2, text 3); student
    # logits [0, R] / Ts. Row 3: both models tie its two neighbours, so its KL is 0.
    p = [_sigmoid(1 / teacher_temperature), _sigmoid(-1 / teacher_temperature)]
    q = [_sigmoid(-R / temperature), _sigmoid(R / temperature)]
    return 2 * _kl(p, q) / 3


def test_hand_computed_value() -> None:
    value = similarity_kl(STUDENT, TEACHER, temperature=1.0, teacher_temperature=1.0)
    assert value.item() == pytest.approx(expected(1.0, 1.0), rel=1e-6)


def test_separate_teacher_temperature() -> None:
    value = SimilarityKLLoss(temperature=0.5, teacher_temperature=0.25)(STUDENT, TEACHER)
    assert value.item() == pytest.approx(expected(0.5, 0.25), rel=1e-5)


def test_same_geometry_gives_zero_whatever_the_width() -> None:
    rotation = torch.linalg.qr(torch.randn(8, 8))[0]
    student = torch.randn(6, 8)
    teacher = torch.cat([student @ rotation, torch.zeros(6, 4)], dim=1) * 5
    assert SimilarityKLLoss()(student, teacher).item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("n", [1, 2])
def test_batches_without_a_choice_give_zero(n: int) -> None:
    assert SimilarityKLLoss()(torch.randn(n, 4), torch.randn(n, 6)).item() == 0.0


def test_gradients_reach_the_student_only() -> None:
    student = torch.randn(5, 3, requires_grad=True)
    teacher = torch.randn(5, 7, requires_grad=True)
    SimilarityKLLoss()(student, teacher).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None
    assert list(SimilarityKLLoss().parameters()) == []


@pytest.mark.parametrize("key", ["temperature", "teacher_temperature"])
@pytest.mark.parametrize("value", [0.0, -0.5, 2.0])
def test_temperature_range(key: str, value: float) -> None:
    with pytest.raises(OptionError, match=r"temperature: must be in \(0, 1.0\]"):
        SimilarityKLLoss(**{key: value})
