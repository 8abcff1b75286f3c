"""OrthonormalProjection.fit_: the closed-form (Procrustes) start of a student -> teacher map."""

from __future__ import annotations

import pytest
import torch

from ragdistill.losses import LossInputError, WeightedLoss
from ragdistill.losses.shapes import OrthonormalProjection
from ragdistill.stages.embedder.losses import CosineDistillationLoss, NTXentLoss


def _rotation(rows: int, cols: int) -> torch.Tensor:
    """A [rows, cols] matrix with orthonormal columns."""
    return torch.linalg.qr(torch.randn(rows, rows, generator=torch.Generator().manual_seed(3)))[0][
        :, :cols
    ]


@pytest.mark.parametrize(("student_dim", "teacher_dim"), [(4, 8), (6, 6)])
def test_recovers_the_rotation_between_the_spaces(student_dim: int, teacher_dim: int) -> None:
    student = torch.randn(40, student_dim)
    teacher = student @ _rotation(teacher_dim, student_dim).T  # an isometry into the wider space
    projection = OrthonormalProjection(student_dim, teacher_dim)
    before = (projection(student) - teacher).abs().max().item()
    projection.fit_(student, teacher)
    assert (projection(student) - teacher).abs().max().item() < 1e-4 < before
    weight = projection.weight
    assert torch.allclose(weight.T @ weight, torch.eye(student_dim), atol=1e-5)  # still orthonormal


def test_narrowing_map_keeps_orthonormal_rows_and_improves_the_fit() -> None:
    student = torch.randn(60, 8)
    teacher = student @ _rotation(8, 4)
    projection = OrthonormalProjection(8, 4)
    cos = torch.nn.functional.cosine_similarity
    before = cos(projection(student), teacher).mean().item()
    projection.fit_(student, teacher)
    assert cos(projection(student), teacher).mean().item() > max(before, 0.9)
    assert torch.allclose(projection.weight @ projection.weight.T, torch.eye(4), atol=1e-5)


def test_wrong_widths_are_refused() -> None:
    with pytest.raises(LossInputError, match=r"fit_ needs \[n, 4\] student and \[n, 8\] teacher"):
        OrthonormalProjection(4, 8).fit_(torch.randn(5, 8), torch.randn(5, 4))


def test_fit_projections_fits_every_projection_of_the_losses(tiny_st_path) -> None:
    from ragdistill.stages.embedder.pipeline import fit_projections
    from ragdistill.stages.embedder.student import SentenceTransformerStudent

    model = SentenceTransformerStudent(model=str(tiny_st_path)).build()
    texts = [f"text number {i} about topic {i % 3}" for i in range(12)]
    with torch.no_grad():
        own = model(texts)
    wide = own.shape[1] * 2
    teacher = own @ _rotation(wide, own.shape[1]).T
    loss = WeightedLoss(
        [
            (1.0, CosineDistillationLoss(student_dim=own.shape[1], teacher_dim=wide)),
            (1.0, NTXentLoss(student_dim=own.shape[1], teacher_dim=wide)),
        ]
    )
    fitted = fit_projections(model, loss, texts, lambda idx: teacher[idx], seed=0)
    assert fitted == 2
    for module in loss.modules():
        if isinstance(module, OrthonormalProjection):
            assert torch.allclose(module(own), teacher, atol=1e-4)
