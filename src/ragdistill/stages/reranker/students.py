"""Reranker students: a small cross-encoder, a bi-encoder, a ColBERT late-interaction scorer.

Each starts from a pretrained encoder (a SentenceTransformer folder such as
all-MiniLM-L6-v2, or any transformers encoder folder), optionally keeps only some of its
transformer layers, and trains to score ``K`` candidates per query like the teacher.
Each saves in a form a plain library or a ragdistill reranker loads back:

* ``cross-encoder``: an ``AutoModelForSequenceClassification`` with one logit
  (``sentence_transformers.CrossEncoder`` and the ``cross-encoder`` reranker read it);
* ``bi-encoder``: a SentenceTransformer folder, scored by cosine (``bi-encoder``);
* ``colbert``: an encoder plus a token projection (``colbert``).

Every student takes ``freeze_layers``: the embeddings and that many of the lowest kept
layers stop training (0: the embeddings only; None, the default: train everything).
Backpropagation then stops above them, which makes a step far cheaper on a CPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ragdistill.errors import ConfigError
from ragdistill.students import Student

if TYPE_CHECKING:
    from ragdistill.students.model import StudentModel


def _check_common(
    keep_layers: list[int] | None, freeze_layers: int | None = None, **lengths: int | None
) -> None:
    if freeze_layers is not None and freeze_layers < 0:
        raise ConfigError(f"student.freeze_layers must be >= 0, got {freeze_layers}")
    if keep_layers is not None and (
        not keep_layers or sorted(set(keep_layers)) != list(keep_layers) or min(keep_layers) < 0
    ):
        raise ConfigError(
            f"student.keep_layers must list distinct ascending indices >= 0, got {keep_layers}"
        )
    for key, value in lengths.items():
        if value is not None and value < 8:
            raise ConfigError(f"student.{key} must be >= 8, got {value}")


def encoder_dir(model: str) -> Path:
    """The transformers folder inside a model: a SentenceTransformer's Transformer module."""
    from ragdistill.hf._loading import _resolve

    root = Path(_resolve(model))
    modules = root / "modules.json"
    if modules.is_file():
        for module in json.loads(modules.read_text()):
            if str(module.get("type", "")).endswith("Transformer"):
                path: str = module.get("path", "")
                return root / path
    if not (root / "config.json").is_file():
        raise ConfigError(
            f"student.model {model!r} (resolved to {root}) has no config.json; give a "
            "transformers encoder folder, a SentenceTransformer folder or a provisionable name"
        )
    return root


class CrossEncoderStudent(Student):
    """A one-logit cross-encoder reading ``[query, document]``, from a pretrained encoder.

    From a bi-encoder's weights (all-MiniLM-L6-v2) the classification head starts random:
    the distillation teaches the encoder to read the pair jointly.
    """

    stage: ClassVar[Literal["reranker"]] = "reranker"
    loader: ClassVar[str] = "cross-encoder"

    def __init__(
        self,
        model: str,
        keep_layers: list[int] | None = None,
        max_length: int = 256,
        freeze_layers: int | None = None,
        device: str = "cpu",
    ) -> None:
        _check_common(keep_layers, freeze_layers, max_length=max_length)
        self.model = model
        self.keep_layers = keep_layers
        self.max_length = max_length
        self.freeze_layers = freeze_layers
        self.device = device

    def build(self) -> StudentModel:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from ragdistill.stages.reranker.student_models import (
            CrossEncoderStudentModel,
            freeze_bottom,
            prune_encoder,
        )

        path = encoder_dir(self.model)
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=1, ignore_mismatched_sizes=True
        )
        if self.keep_layers is not None:
            prune_encoder(model, self.keep_layers)
        if self.freeze_layers is not None:
            freeze_bottom(model, self.freeze_layers)
        tokenizer = AutoTokenizer.from_pretrained(path)
        return CrossEncoderStudentModel(model, tokenizer, self.max_length).to(self.device)

    def load_options(self) -> dict[str, Any]:
        return {"max_length": self.max_length}


class BiEncoderStudent(Student):
    """Query and document embedded separately by one SentenceTransformer, scored by cosine.

    During training the cosine is multiplied by a learned scale, starting at ``scale``
    (and recalibrated to the teacher's spread before the first step): a cosine spans
    [-1, 1], which may not be the teacher's scale. Rankings do not depend on it, so the
    saved model is scored by plain cosine by the ``bi-encoder`` reranker.
    """

    stage: ClassVar[Literal["reranker"]] = "reranker"
    loader: ClassVar[str] = "bi-encoder"

    def __init__(
        self,
        model: str,
        keep_layers: list[int] | None = None,
        max_seq_length: int | None = 256,
        scale: float = 1.0,
        freeze_layers: int | None = None,
        device: str = "cpu",
    ) -> None:
        _check_common(keep_layers, freeze_layers, max_seq_length=max_seq_length)
        self.freeze_layers = freeze_layers
        if not scale > 0:
            raise ConfigError(f"student.scale must be > 0, got {scale}")
        self.model = model
        self.keep_layers = keep_layers
        self.max_seq_length = max_seq_length
        self.scale = scale
        self.device = device

    def build(self) -> StudentModel:
        from sentence_transformers import SentenceTransformer

        from ragdistill.hf._loading import _resolve
        from ragdistill.stages.embedder.student import prune_layers
        from ragdistill.stages.reranker.student_models import BiEncoderStudentModel, freeze_bottom

        st = SentenceTransformer(_resolve(self.model), device=self.device)
        if self.max_seq_length is not None:
            st.max_seq_length = self.max_seq_length
        if self.keep_layers is not None:
            prune_layers(st, self.keep_layers)
        if self.freeze_layers is not None:
            freeze_bottom(st[0].auto_model, self.freeze_layers)
        return BiEncoderStudentModel(st, scale=self.scale)


class ColBERTStudent(Student):
    """Late interaction over the encoder's token states projected to ``dim`` (unit length).

    ``dim=None`` (the default) keeps the encoder's width with the projection starting as
    the identity, so the untrained student already scores with the pretrained token
    states; a smaller ``dim`` (ColBERT uses 128) stores less per document token but
    starts from a random orthogonal projection.
    """

    stage: ClassVar[Literal["reranker"]] = "reranker"
    loader: ClassVar[str] = "colbert"

    def __init__(
        self,
        model: str,
        keep_layers: list[int] | None = None,
        dim: int | None = None,
        max_query_length: int = 32,
        max_doc_length: int = 256,
        freeze_layers: int | None = None,
        device: str = "cpu",
    ) -> None:
        _check_common(
            keep_layers, freeze_layers, max_query_length=max_query_length,
            max_doc_length=max_doc_length,
        )  # fmt: skip
        self.freeze_layers = freeze_layers
        if dim is not None and dim < 1:
            raise ConfigError(f"student.dim must be >= 1, got {dim}")
        self.model = model
        self.keep_layers = keep_layers
        self.dim = dim
        self.max_query_length = max_query_length
        self.max_doc_length = max_doc_length
        self.device = device

    def build(self) -> StudentModel:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from ragdistill.stages.reranker._colbert_model import ColBERTModel
        from ragdistill.stages.reranker.student_models import (
            ColBERTStudentModel,
            freeze_bottom,
            prune_encoder,
        )

        path = encoder_dir(self.model)
        encoder = AutoModel.from_pretrained(path)
        if self.keep_layers is not None:
            prune_encoder(encoder, self.keep_layers)
        if self.freeze_layers is not None:
            freeze_bottom(encoder, self.freeze_layers)
        hidden = int(encoder.config.hidden_size)
        dim = self.dim or hidden
        if dim > hidden:
            raise ConfigError(f"student.dim {dim} is wider than the encoder's {hidden}")
        linear = torch.nn.Linear(hidden, dim, bias=False)
        if dim == hidden:
            torch.nn.init.eye_(linear.weight)
        else:
            torch.nn.init.orthogonal_(linear.weight)  # orthonormal rows: a projection
        model = ColBERTModel(
            encoder,
            AutoTokenizer.from_pretrained(path),
            linear,
            max_query_length=self.max_query_length,
            max_doc_length=self.max_doc_length,
        )
        return ColBERTStudentModel(model).to(self.device)
