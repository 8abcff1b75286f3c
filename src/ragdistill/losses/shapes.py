"""Shape checks and the student-to-teacher projection shared by the losses.

Every message names the loss, the shape it expected and what to change in the data,
because a shape error surfaces deep in a training loop, far from the batch that caused it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ragdistill.losses.base import LossInputError


def shape(t: Tensor) -> str:
    return "[" + ", ".join(str(n) for n in t.shape) + "]"


def as_tensor(loss: str, role: str, value: Any) -> Tensor:
    if not isinstance(value, Tensor):
        raise LossInputError(
            f"{loss}: {role} must be a torch.Tensor, got {type(value).__name__}; convert the "
            f"model outputs with torch.as_tensor before calling the loss"
        )
    return value


def check_embeddings(loss: str, student: Tensor, teacher: Tensor) -> None:
    """Both ``[B, D]`` with the same ``B`` (the widths may differ)."""
    as_tensor(loss, "student", student)
    as_tensor(loss, "teacher", teacher)
    for role, t in (("student", student), ("teacher", teacher)):
        if t.dim() != 2:
            raise LossInputError(
                f"{loss}: expected {role} embeddings of shape [batch, dim], got {shape(t)}; "
                f"pool token embeddings to one vector per text (mean or CLS) before the loss"
            )
    if student.shape[0] != teacher.shape[0]:
        raise LossInputError(
            f"{loss}: student embeddings {shape(student)} and teacher embeddings "
            f"{shape(teacher)} hold different numbers of texts; row i of both must embed "
            f"the same text, so build both from the same batch"
        )


def check_scores(loss: str, student: Tensor, teacher: Tensor, *, min_candidates: int = 1) -> None:
    """Both ``[B, K]`` with identical shapes: K candidate scores per query."""
    as_tensor(loss, "student", student)
    as_tensor(loss, "teacher", teacher)
    for role, t in (("student", student), ("teacher", teacher)):
        if t.dim() != 2:
            raise LossInputError(
                f"{loss}: expected {role} scores of shape [queries, candidates], got "
                f"{shape(t)}; reshape the flat pair scores to one row per query "
                f"(scores.view(num_queries, candidates_per_query))"
            )
    if student.shape != teacher.shape:
        raise LossInputError(
            f"{loss}: student scores {shape(student)} and teacher scores {shape(teacher)} "
            f"differ; both models must score the same (query, candidate) pairs in the same order"
        )
    if student.shape[1] < min_candidates:
        raise LossInputError(
            f"{loss}: needs at least {min_candidates} candidates per query, got "
            f"{student.shape[1]} (scores {shape(student)}); put the positive in column 0 and "
            f"add hard negatives in the following columns"
        )


def check_mask(loss: str, mask: Any, expected: torch.Size, *, what: str, unit: str) -> Tensor:
    """A ``mask`` of shape ``expected`` (True/1 = keep), as a bool tensor."""
    tensor = as_tensor(loss, "mask", mask)
    if tensor.shape != expected:
        dims = "[" + ", ".join(str(n) for n in expected) + "]"
        raise LossInputError(
            f"{loss}: mask has shape {shape(tensor)} but the {what} need {dims}; pass one entry "
            f"per {unit}, True (or 1) where it is real and False (or 0) where it is padding"
        )
    return tensor.bool()


class OrthonormalProjection(torch.nn.Module):
    """A learned linear map ``in_features -> out_features`` kept (semi-)orthonormal.

    With orthonormal columns, ``(Ps)·(Pd) = s·d``: the student's own similarities,
    which it is searched with after training (the projection is not saved with the
    student), are exactly the ones the loss shaped in the teacher's space. An
    unconstrained map could fit the teacher while leaving the student's geometry
    arbitrary. The orthonormal factor comes from a QR decomposition of a free matrix
    (differentiable and cheap: torch's Householder parametrization costs seconds a step
    at 384 -> 768).
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        raw = torch.empty(max(in_features, out_features), min(in_features, out_features))
        torch.nn.init.orthogonal_(raw)
        self.raw = torch.nn.Parameter(raw)

    @property
    def weight(self) -> Tensor:
        """The orthonormal ``(out_features, in_features)`` matrix in use."""
        q, r = torch.linalg.qr(self.raw)
        q = q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, 1.0)  # unique QR
        weight: Tensor = q if self.out_features >= self.in_features else q.T
        return weight

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.weight.T

    @torch.no_grad()
    def fit_(self, student: Tensor, teacher: Tensor) -> None:
        """Set the map to the orthonormal one that best carries ``student`` onto ``teacher``.

        Orthogonal Procrustes: with ``student.T @ teacher = U S V^T`` (rows are the same
        texts), ``U V^T`` minimises ``||student @ W - teacher||``. A pretrained student's
        space is already close to the teacher's up to a rotation; starting from a random
        rotation instead makes the first steps of training turn the student towards it,
        undoing what it knew. Inputs are unit-normalised first.
        """
        if student.shape[1] != self.in_features or teacher.shape[1] != self.out_features:
            raise LossInputError(
                f"fit_ needs [n, {self.in_features}] student and [n, {self.out_features}] "
                f"teacher embeddings, got {shape(student)} and {shape(teacher)}"
            )
        s = torch.nn.functional.normalize(student.float(), dim=-1)
        t = torch.nn.functional.normalize(teacher.float(), dim=-1)
        u, _, vt = torch.linalg.svd(s.T @ t, full_matrices=False)
        w = u @ vt  # [in, out]: x @ w carries student onto teacher; weight must be w.T
        # ``weight`` is the QR factor q of raw (or its transpose); the QR of a matrix with
        # orthonormal columns gives that matrix back, so raw is set to what q must be.
        self.raw.copy_(w.T if self.out_features >= self.in_features else w)


def make_projection(
    student_dim: int | None, teacher_dim: int | None
) -> OrthonormalProjection | None:
    """A learned orthonormal map from the student's width to the teacher's, when they differ."""
    if student_dim is None or teacher_dim is None or student_dim == teacher_dim:
        return None
    if student_dim < 1 or teacher_dim < 1:
        raise LossInputError(f"embedding widths must be >= 1, got {student_dim}, {teacher_dim}")
    return OrthonormalProjection(student_dim, teacher_dim)


def project(
    loss: str, student: Tensor, teacher: Tensor, projection: OrthonormalProjection | None
) -> Tensor:
    """``student`` mapped into the teacher's width, with an error that says how to fix it."""
    if projection is not None:
        if student.shape[-1] != projection.in_features:
            raise LossInputError(
                f"{loss}: student embeddings are {shape(student)} but the loss was built for "
                f"student_dim={projection.in_features}; build the loss with the student "
                f"model's embedding width"
            )
        student = projection(student.to(projection.raw.dtype))
    if student.shape[-1] != teacher.shape[-1]:
        raise LossInputError(
            f"{loss}: student embeddings {shape(student)} and teacher embeddings "
            f"{shape(teacher)} have different widths and the loss has no projection; build it "
            f"with student_dim={student.shape[-1]}, teacher_dim={teacher.shape[-1]} (the "
            f"trainer passes these from the models) so it learns a projection"
        )
    return student
