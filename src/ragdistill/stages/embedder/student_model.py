"""The trainable module of a sentence-transformers student (imports torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ragdistill.students.model import StudentModel


def embedding_dimension(st: Any) -> int:
    get = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    return int(get())


class SentenceTransformerStudentModel(StudentModel):
    def __init__(self, st: Any, *, train_max_seq_length: int | None = None) -> None:
        super().__init__()
        self.st = st
        self.output_dim = embedding_dimension(st)
        self.train_max_seq_length = train_max_seq_length

    def forward(self, batch: list[str]) -> torch.Tensor:
        full_length = self.st.max_seq_length
        if self.training and self.train_max_seq_length is not None:
            self.st.max_seq_length = min(
                full_length or self.train_max_seq_length, self.train_max_seq_length
            )
        try:
            # sentence-transformers 6 renamed tokenize() to preprocess().
            features = getattr(self.st, "preprocess", self.st.tokenize)(batch)
        finally:
            self.st.max_seq_length = full_length
        device = next(self.st.parameters()).device
        features = {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}
        embeddings: torch.Tensor = self.st(features)["sentence_embedding"]
        return embeddings

    def save_artifact(self, path: Path) -> None:
        self.st.save(str(path), safe_serialization=True)
