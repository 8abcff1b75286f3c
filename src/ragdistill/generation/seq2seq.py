"""The query-transformer student: a Hugging Face encoder-decoder (T5, BART...) trained
in full on the teacher's rewrites, expansions or HyDE passages.

Its artifact is a plain transformers folder that the ``hf-seq2seq`` query transformer
(:class:`~ragdistill.hf.query_transformers.Seq2SeqQueryTransformer`) loads back; the
built module (:class:`~ragdistill.generation.seq2seq_model.Seq2SeqStudentModel`) encodes
sources and targets exactly as that transformer reads and generates them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

from ragdistill.errors import ConfigError, require
from ragdistill.hf._loading import DType
from ragdistill.students import Student

if TYPE_CHECKING:
    from ragdistill.generation.seq2seq_model import Seq2SeqStudentModel


class Seq2SeqStudent(Student):
    """A seq2seq student, saved as a folder the ``hf-seq2seq`` query transformer loads.

    * ``model``: a folder or a hub id of an encoder-decoder (``t5-small``,
      ``google/flan-t5-small``, ``facebook/bart-base``).
    * ``max_length``: source tokens (the query after its history); a longer source loses
      its oldest tokens, as the query transformer truncates it at inference. The model's
      and tokenizer's own limits cap it there too.
    * ``max_target_length``: decoder tokens per target, the end-of-sequence token
      included; a longer teacher output is cut, so keep the teacher's
      ``max_new_tokens`` below it.
    * ``freeze_embeddings``: keep the token-embedding table fixed (shared by encoder and
      decoder in T5 and BART, and the output layer with it when the two are tied).
    * ``device``, ``dtype``: where and in what precision the model trains (``"auto"``
      device picks CUDA, then MPS, then CPU).

    What the model is trained for (``task``, ``expansion``, ``num_queries``) is the
    stage's to record: it adds those options to the artifact's manifest.
    """

    stage: ClassVar[Literal["query_transformer"]] = "query_transformer"
    loader: ClassVar[str] = "hf-seq2seq"

    def __init__(
        self,
        model: str,
        max_length: int = 512,
        max_target_length: int = 128,
        freeze_embeddings: bool = False,
        device: str = "cpu",
        dtype: DType = "float32",
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(
                f"student.model must name a seq2seq model (T5, BART...) or its folder, "
                f"got {model!r}"
            )
        if max_length < 8:
            raise ConfigError(f"student.max_length must be >= 8 source tokens, got {max_length}")
        if max_target_length < 2:
            raise ConfigError(
                "student.max_target_length must be >= 2 tokens (some text and the "
                f"end-of-sequence token), got {max_target_length}"
            )
        if dtype not in get_args(DType):
            raise ConfigError(f"student.dtype must be one of {get_args(DType)}, got {dtype!r}")
        self.model = model
        self.max_length = max_length
        self.max_target_length = max_target_length
        self.freeze_embeddings = freeze_embeddings
        self.device = device
        self.dtype = dtype

    def build(self) -> Seq2SeqStudentModel:
        transformers = require("transformers", extra="hf")

        from ragdistill.generation.seq2seq_model import Seq2SeqStudentModel
        from ragdistill.hf._loading import (
            dtype_kwargs,
            load_pretrained,
            load_tokenizer,
            torch_device,
        )

        device = torch_device(self.device)
        tokenizer = load_tokenizer(self.model)
        model = load_pretrained(
            transformers.AutoModelForSeq2SeqLM,
            self.model,
            what="student seq2seq model",
            **dtype_kwargs(self.dtype),
        )
        if self.freeze_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)
        model.to(device)
        return Seq2SeqStudentModel(
            model,
            tokenizer,
            max_length=self.max_length,
            max_target_length=self.max_target_length,
        )

    def load_options(self) -> dict[str, Any]:
        """The source length the student was trained on, so the query transformer
        truncates its inputs the same way."""
        return {"max_length": self.max_length}
