"""The trainable modules of the reranker students (imports torch).

A batch is a list of ``(query, documents)`` with the same number ``K`` of documents for
every query; ``forward`` returns scores ``[B, K]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ragdistill.errors import ConfigError
from ragdistill.losses.base import LossInputError
from ragdistill.students.model import StudentModel

Batch = Sequence[tuple[str, Sequence[str]]]


def batch_width(batch: Batch) -> int:
    widths = {len(docs) for _, docs in batch}
    if len(widths) != 1:
        raise LossInputError(
            f"every query of a reranker batch needs the same number of candidates, got "
            f"{sorted(widths)}; pad short lists (and pass a mask to the loss)"
        )
    return widths.pop()


def prune_encoder(model: Any, keep: list[int]) -> None:
    """Keep only the transformer layers at indices ``keep`` of a transformers model."""
    from ragdistill.stages.embedder.student import _layer_list

    layers = _layer_list(model)
    if max(keep) >= len(layers):
        raise ConfigError(
            f"student.keep_layers {keep} refers to layer {max(keep)}, but the model has "
            f"{len(layers)} layers (0..{len(layers) - 1})"
        )
    kept = torch.nn.ModuleList([layers[i] for i in keep])
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if child is layers:
                setattr(parent, name, kept)
    model.config.num_hidden_layers = len(keep)


def freeze_bottom(model: Any, layers: int) -> None:
    """Stop training the embeddings and the first ``layers`` transformer layers.

    Backpropagation then stops above them, which on a CPU saves most of a step's time;
    the pretrained lower layers usually need little change to rerank.
    """
    from ragdistill.stages.embedder.student import _layer_list

    base = getattr(model, getattr(model, "base_model_prefix", ""), model)
    frozen = [getattr(base, "embeddings", None) or model.get_input_embeddings()]
    stack = _layer_list(model)
    if layers > len(stack):
        raise ConfigError(
            f"student.freeze_layers is {layers}, but the model has {len(stack)} layers; "
            f"freeze at most {len(stack)}"
        )
    frozen += list(stack[:layers])
    for module in frozen:
        for param in module.parameters():
            param.requires_grad_(False)


class CrossEncoderStudentModel(StudentModel):
    output_dim = 1

    def __init__(self, model: Any, tokenizer: Any, max_length: int) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length

    def forward(self, batch: Batch) -> Tensor:
        width = batch_width(batch)
        features = self.tokenizer(
            [q for q, docs in batch for _ in docs],
            [d for _, docs in batch for d in docs],
            padding=True,
            truncation="longest_first",  # as the cross-encoder reranker reads pairs
            max_length=self.max_length,
            return_tensors="pt",
        ).to(next(self.model.parameters()).device)
        logits: Tensor = self.model(**features).logits[:, 0]
        return logits.view(len(batch), width)

    def save_artifact(self, path: Path) -> None:
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)


class BiEncoderStudentModel(StudentModel):
    """Cosine times a learned scale (not saved: it does not change a ranking)."""

    output_dim = 1

    def __init__(self, st: Any, *, scale: float = 1.0) -> None:
        super().__init__()
        self.st = st
        self.log_scale = torch.nn.Parameter(torch.tensor(float(scale)).log())

    def _embed(self, texts: list[str]) -> Tensor:
        features = getattr(self.st, "preprocess", self.st.tokenize)(texts)
        device = next(self.st.parameters()).device
        features = {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}
        return torch.nn.functional.normalize(self.st(features)["sentence_embedding"], dim=-1)

    def forward(self, batch: Batch) -> Tensor:
        width = batch_width(batch)
        queries = self._embed([q for q, _ in batch])
        docs = self._embed([d for _, ds in batch for d in ds]).view(len(batch), width, -1)
        return self.log_scale.exp() * torch.einsum("bh,bkh->bk", queries, docs)

    def save_artifact(self, path: Path) -> None:
        self.st.save(str(path), safe_serialization=True)


class ColBERTStudentModel(StudentModel):
    """Trains on MaxSim per query token times a learned scale.

    Both are per-query positive factors, so the saved model (which sums over query
    tokens, unscaled) ranks exactly as the trained one; they put the scores on the
    teacher's scale, which margin and pointwise losses compare directly.
    """

    output_dim = 1

    def __init__(self, colbert: Any) -> None:
        super().__init__()
        self.colbert = colbert
        self.log_scale = torch.nn.Parameter(torch.zeros(()))

    def forward(self, batch: Batch) -> Tensor:
        batch_width(batch)
        queries, docs = [q for q, _ in batch], [list(ds) for _, ds in batch]
        scores: Tensor = self.log_scale.exp() * self.colbert(queries, docs, per_token=True)
        return scores

    def save_artifact(self, path: Path) -> None:
        self.colbert.save(path)


class InBatchNegatives(torch.nn.Module):
    """Training wrapper: each query also scores the positives of ``n`` other batch queries.

    The teacher's targets for those extra columns come from the same construction
    (:func:`ragdistill.stages.reranker.mining.with_in_batch`), so both sides see equal lists.
    """

    def __init__(self, student: StudentModel, n: int) -> None:
        super().__init__()
        self.student = student
        self.n = n

    def forward(self, batch: Batch) -> Tensor:
        from ragdistill.stages.reranker.mining import with_in_batch

        out: Tensor = self.student(with_in_batch(list(batch), self.n))
        return out
