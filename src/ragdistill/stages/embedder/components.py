"""Embedders backed by sentence-transformers or by any Hugging Face encoder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ragdistill.contracts import Embedder, FloatArray, InputType
from ragdistill.errors import ConfigError, require
from ragdistill.hf._loading import (
    Lazy,
    ModelNamed,
    check_model_name,
    check_positive,
    context_length,
    load_pretrained,
    load_tokenizer,
    torch_device,
)

Pooling = Literal["mean", "cls", "max", "last"]


class SentenceTransformerEmbedder(ModelNamed, Embedder):
    """A ``sentence_transformers.SentenceTransformer`` model (its own pooling and layers).

    ``query_prefix``/``document_prefix`` are prepended by input type, for asymmetric
    models such as e5 (``"query: "``, ``"passage: "``). Texts longer than the model's
    ``max_seq_length`` are truncated.
    """

    @classmethod
    def folder_match(cls, folder: Path, config: Mapping[str, Any]) -> int:
        return 30 if (folder / "modules.json").is_file() else 0

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        batch_size: int = 32,
        normalize: bool = True,
        query_prefix: str = "",
        document_prefix: str = "",
        max_seq_length: int | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        check_positive(batch_size=batch_size, max_seq_length=max_seq_length)
        self.model = check_model_name(model)
        self.device = device
        self.batch_size = batch_size
        self.normalize = normalize
        self.prefixes = {"query": query_prefix, "document": document_prefix}
        self.max_seq_length = max_seq_length
        self.trust_remote_code = trust_remote_code
        self._st: Lazy[Any] = Lazy(self._load)

    def _load(self) -> Any:
        st = require("sentence_transformers", extra="hf")
        model = load_pretrained(
            _PathLoader(st.SentenceTransformer, device=str(torch_device(self.device))),
            self.model,
            what="sentence-transformers model",
            trust_remote_code=self.trust_remote_code,
        )
        if self.max_seq_length is not None:
            model.max_seq_length = self.max_seq_length
        model.eval()
        dim = _st_dimension(model)
        if dim:
            self._dimension = dim
        return model

    @property
    def st_model(self) -> Any:
        """The loaded ``SentenceTransformer`` (loads it on first use)."""
        return self._st.get()

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        model = self._st.get()
        if not texts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        prefix = self.prefixes[input_type]
        vectors = model.encode(
            [prefix + text for text in texts],
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
        )
        return np.asarray(vectors, dtype=np.float32)


class HFEncoderEmbedder(ModelNamed, Embedder):
    """Any ``AutoModel`` encoder with a pooling over its last hidden states.

    ``pooling``: ``mean`` (masked average), ``cls`` (first token), ``max`` (masked max)
    or ``last`` (last real token, for decoder-style embedders). Input longer than
    ``max_length`` tokens (or the model's own limit) is truncated.
    """

    @classmethod
    def folder_match(cls, folder: Path, config: Mapping[str, Any]) -> int:
        # Any transformers encoder: the fallback when no more specific loader claims it.
        return 1 if config else 0

    def __init__(
        self,
        model: str,
        pooling: Pooling = "mean",
        normalize: bool = True,
        max_length: int = 512,
        device: str = "cpu",
        batch_size: int = 32,
        query_prefix: str = "",
        document_prefix: str = "",
        trust_remote_code: bool = False,
    ) -> None:
        check_positive(max_length=max_length, batch_size=batch_size)
        if pooling not in ("mean", "cls", "max", "last"):
            raise ConfigError(f"pooling must be mean, cls, max or last, got {pooling!r}")
        self.model = check_model_name(model)
        self.pooling = pooling
        self.normalize = normalize
        self.max_length = max_length
        self.device = device
        self.batch_size = batch_size
        self.prefixes = {"query": query_prefix, "document": document_prefix}
        self.trust_remote_code = trust_remote_code
        self._loaded: Lazy[tuple[Any, Any, int]] = Lazy(self._load)

    def _load(self) -> tuple[Any, Any, int]:
        transformers = require("transformers", extra="hf")
        tokenizer = load_tokenizer(self.model, trust_remote_code=self.trust_remote_code)
        model = load_pretrained(
            transformers.AutoModel,
            self.model,
            what="encoder model",
            trust_remote_code=self.trust_remote_code,
        )
        model.to(torch_device(self.device)).eval()
        if tokenizer.pad_token is None:  # decoder-style models often ship without one
            tokenizer.pad_token = tokenizer.eos_token
        self._dimension = int(model.config.hidden_size)
        return model, tokenizer, context_length(model, tokenizer, self.max_length)

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        import torch

        model, tokenizer, limit = self._loaded.get()
        if not texts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        prefix = self.prefixes[input_type]
        batch = tokenizer(
            [prefix + text for text in texts],
            padding=True,
            truncation=True,
            max_length=limit,
            return_tensors="pt",
        ).to(model.device)
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
            pooled = pool(hidden, batch["attention_mask"], self.pooling)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return np.asarray(pooled.float().cpu().numpy(), dtype=np.float32)


def pool(hidden: Any, mask: Any, how: Pooling) -> Any:
    """Pool token states ``(batch, seq, dim)`` to ``(batch, dim)`` over real tokens only."""
    import torch

    if how == "cls":
        return hidden[:, 0]
    if how == "last":
        # The last real token, wherever padding sits (left-padded decoders included).
        seq = mask.shape[1]
        last = seq - 1 - mask.flip(1).int().argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    if how == "max":
        return hidden.masked_fill(weights == 0, torch.finfo(hidden.dtype).min).amax(dim=1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


class _PathLoader:
    """Adapts ``SentenceTransformer(path, device=...)`` to the ``from_pretrained`` shape.

    ``use_safetensors`` (given for a hub id, see :func:`load_pretrained`) goes to the
    Transformer module's ``from_pretrained`` through ``model_kwargs``.
    """

    def __init__(self, cls: Any, **kwargs: Any) -> None:
        self.cls = cls
        self.kwargs = kwargs

    def from_pretrained(
        self, path: str, *, use_safetensors: bool | None = None, **kwargs: Any
    ) -> Any:
        if use_safetensors is not None:
            kwargs["model_kwargs"] = {
                **kwargs.get("model_kwargs", {}),
                "use_safetensors": use_safetensors,
            }
        return self.cls(path, **self.kwargs, **kwargs)


def _st_dimension(model: Any) -> int | None:
    # sentence-transformers 6 renamed the method; older releases have only the long name.
    getter = getattr(model, "get_embedding_dimension", None) or getattr(
        model, "get_sentence_embedding_dimension", None
    )
    dim = getter() if getter else None
    return int(dim) if dim else None
