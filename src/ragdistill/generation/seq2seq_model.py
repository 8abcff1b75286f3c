"""The trainable module of a seq2seq (T5/BART-style) query-transformer student (imports torch).

A batch is a list of ``(source_ids, target_ids)`` rows: the encoder input as
:class:`~ragdistill.hf.query_transformers.Seq2SeqQueryTransformer` feeds it to the model
(:meth:`Seq2SeqStudentModel.source_ids`) and the decoder's tokens as ``generate`` emits
them, ending with the end-of-sequence token (:meth:`Seq2SeqStudentModel.target_ids`).
``forward`` returns the logits that predict each target token under teacher forcing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ragdistill.errors import ConfigError
from ragdistill.hf._loading import context_length
from ragdistill.students.model import StudentModel

#: One training row: the encoder's token ids, then the decoder's target ids.
Row = tuple[Sequence[int], Sequence[int]]

#: Label id the model's shifting treats as padding (transformers' ignore index).
_IGNORE = -100


class Seq2SeqStudentModel(StudentModel):
    """A transformers encoder-decoder (``AutoModelForSeq2SeqLM``).

    ``forward(batch)`` takes ``(source_ids, target_ids)`` rows and returns logits
    ``[B, T, V]``, ``T`` the longest target and ``V`` the vocabulary (:attr:`vocab_size`,
    the output layer's rows): ``logits[b, t]`` predicts ``target_ids[b][t]`` from the
    source and the targets before it, the decoder input being the targets shifted right
    by the model's own rule (its decoder start token first). Positions past a row's own
    target length are zero.

    ``max_length`` is the source length the artifact's reader will use: the student's
    option capped, as the reader caps it, by the model's and tokenizer's own limits.
    Rows are taken as given; build them with :meth:`source_ids` and :meth:`target_ids`,
    which truncate.
    """

    def __init__(
        self, model: Any, tokenizer: Any, *, max_length: int, max_target_length: int
    ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        # The reader truncates from the left: the current query is at the end.
        tokenizer.truncation_side = "left"
        self.max_length = context_length(model, tokenizer, max_length)
        self.max_target_length = max_target_length
        self.vocab_size = int(model.get_output_embeddings().weight.shape[0])
        self.output_dim = self.vocab_size
        self.eos_id = _eos_id(model, tokenizer)
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = getattr(model.config, "pad_token_id", None)
        # Padding sits right of every row and is masked out, so any valid id will do.
        self.pad_id = int(pad if pad is not None else self.eos_id)

    # --- encoding, exactly as the query transformer reads it ----------------------------

    def source_ids(self, text: str) -> list[int]:
        """``text`` (``Seq2SeqQueryTransformer.source(req)``) tokenized as the reader does:
        with special tokens, its oldest tokens dropped past :attr:`max_length`."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(
                f"a seq2seq student source must be non-empty text (the query and its "
                f"history), got {text!r}"
            )
        encoded = self.tokenizer(text, truncation=True, max_length=self.max_length)
        return list(encoded["input_ids"])

    def target_ids(self, text: str) -> list[int]:
        """The decoder's tokens for ``text`` as ``generate`` would emit them (after the
        decoder start token): the tokenizer's ids with its special tokens (BART's ``<s>``
        included, which generation forces), ending with :attr:`eos_id` even where the
        tokenizer adds none. Past ``max_target_length`` tokens the end of the text is cut
        and the end-of-sequence token kept, so the model still learns to stop."""
        ids = list(self.tokenizer(text)["input_ids"])
        if ids and ids[-1] == self.eos_id:
            ids.pop()
        return [*ids[: max(0, self.max_target_length - 1)], self.eos_id]

    # --- training ------------------------------------------------------------------------

    def forward(self, batch: Sequence[Row]) -> torch.Tensor:
        if not batch:
            raise ValueError("a seq2seq student batch needs at least one (source, target) row")
        rows = [(list(source), list(target)) for source, target in batch]
        for i, (source, target) in enumerate(rows):
            if not source:
                raise ValueError(
                    f"seq2seq student row {i} has no source tokens: the decoder reads the "
                    "encoded query, so build sources with source_ids()"
                )
            if not target:
                raise ValueError(
                    f"seq2seq student row {i} has no target tokens; build targets with "
                    "target_ids(), which ends each with the end-of-sequence token"
                )
        width = max(len(s) for s, _ in rows)
        n_target = max(len(t) for _, t in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), n_target), _IGNORE, dtype=torch.long)
        for b, (source, target) in enumerate(rows):
            ids[b, : len(source)] = torch.tensor(source)
            mask[b, : len(source)] = 1
            labels[b, : len(target)] = torch.tensor(target)
        device = next(self.model.parameters()).device
        labels = labels.to(device)
        output = self.model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            decoder_input_ids=self._decoder_inputs(labels),
            use_cache=False,
        )
        logits: torch.Tensor = output.logits
        return logits.masked_fill((labels == _IGNORE)[..., None], 0.0)

    def _decoder_inputs(self, labels: torch.Tensor) -> torch.Tensor:
        """The targets shifted right, the decoder start token first, as the model trains.

        The model's own ``prepare_decoder_input_ids_from_labels`` (T5, BART, Marian,
        Pegasus...) also turns -100 into padding; the decoder's attention is causal, so
        the padding after a row's targets never reaches its real positions.
        """
        prepare = getattr(self.model, "prepare_decoder_input_ids_from_labels", None)
        if prepare is not None:
            shifted: torch.Tensor = prepare(labels=labels)
            return shifted
        generation = getattr(self.model, "generation_config", None)
        start = getattr(self.model.config, "decoder_start_token_id", None)
        if start is None:
            start = getattr(generation, "decoder_start_token_id", None)
        if start is None:
            raise ConfigError(
                f"{type(self.model).__name__} names no decoder_start_token_id in its config, "
                "so the student cannot know how its decoder begins; set it in config.json"
            )
        shifted = labels.new_full(labels.shape, int(start))
        shifted[:, 1:] = labels[:, :-1]
        return shifted.masked_fill(shifted == _IGNORE, self.pad_id)

    # --- saving --------------------------------------------------------------------------

    def save_artifact(self, path: Path) -> None:
        """A plain transformers folder (safetensors, config, generation config, tokenizer)
        that ``Seq2SeqQueryTransformer`` and ``AutoModelForSeq2SeqLM`` load."""
        self.model.save_pretrained(str(path))
        self.tokenizer.save_pretrained(str(path))


def _eos_id(model: Any, tokenizer: Any) -> int:
    """The token a trained target ends with: the first id ``generate`` stops at (the
    generation config's), else the model config's, else the tokenizer's ``eos_token``."""
    for source in (getattr(model, "generation_config", None), model.config):
        eos = getattr(source, "eos_token_id", None)
        if isinstance(eos, (list, tuple)):
            eos = eos[0] if eos else None
        if eos is not None:
            return int(eos)
    if tokenizer.eos_token_id is None:
        raise ConfigError(
            "the student model has no end-of-sequence token (neither its configs nor its "
            "tokenizer names one), so it could not learn to stop; use a model that has one"
        )
    return int(tokenizer.eos_token_id)
