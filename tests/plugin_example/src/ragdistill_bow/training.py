"""The student and the loss: what ragdistill trains (this module imports torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from ragdistill.errors import ConfigError
from ragdistill.losses.base import DistillationLoss, LossInputError, OptionError
from ragdistill.students import Student
from ragdistill.students.model import StudentModel
from ragdistill_bow.embedders import hashed_words, save_table


class BagOfWordsModel(StudentModel):
    """The mean of one learned vector per hashed word, normalized."""

    def __init__(self, buckets: int, dimension: int, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.table = torch.nn.Parameter(torch.randn(buckets, dimension, generator=generator))
        self.output_dim = dimension

    def forward(self, batch: list[str]) -> Tensor:
        ids: list[int] = []
        offsets: list[int] = []
        for text in batch:
            offsets.append(len(ids))
            ids.extend(hashed_words(text, len(self.table)))
        device = self.table.device
        bags = F.embedding_bag(
            torch.tensor(ids, dtype=torch.long, device=device),
            self.table,
            torch.tensor(offsets, dtype=torch.long, device=device),
            mode="mean",
        )
        return F.normalize(bags, dim=-1)

    def save_artifact(self, path: Path) -> None:
        save_table(path, self.table.detach().cpu().numpy())


class BagOfWordsStudent(Student):
    """A table of ``buckets`` x ``dimension`` word vectors, trained from scratch."""

    stage: ClassVar[str] = "embedder"
    loader: ClassVar[str] = "bag-of-words"  # the teacher name that loads its artifact

    def __init__(self, buckets: int = 4096, dimension: int = 64, seed: int = 0) -> None:
        if buckets < 16:
            raise ConfigError(f"student.buckets must be >= 16, got {buckets}")
        if not 2 <= dimension <= 1024:
            raise ConfigError(f"student.dimension must be in [2, 1024], got {dimension}")
        self.buckets = buckets
        self.dimension = dimension
        self.seed = seed

    def build(self) -> BagOfWordsModel:
        return BagOfWordsModel(self.buckets, self.dimension, self.seed)


def relational_mse(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean squared difference of the in-batch cosine-similarity matrices, ``[B, B]``."""
    s = F.normalize(student.float(), dim=-1)
    t = F.normalize(teacher.float(), dim=-1)
    return F.mse_loss(s @ s.T, t @ t.T)


class RelationalMSELoss(DistillationLoss):
    """Relate the texts of a batch to each other as the teacher does.

    Only similarities are compared, so the student's width may differ from the teacher's
    and no projection is needed.
    """

    stage: ClassVar[str] = "embedder"

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        if not scale > 0:
            raise OptionError("scale", f"must be > 0, got {scale}")
        self.scale = scale

    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        if student.ndim != 2 or teacher.ndim != 2 or len(student) != len(teacher):
            raise LossInputError(
                f"relational-mse compares [B, D] embeddings of the same B texts; got "
                f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)}"
            )
        return self.scale * relational_mse(student, teacher.detach())
