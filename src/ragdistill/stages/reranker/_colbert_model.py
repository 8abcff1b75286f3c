"""The torch side of ColBERT-style late interaction (imports torch).

A folder holds a transformers encoder (``config.json``, ``model.safetensors``), its
tokenizer, ``colbert_linear.safetensors`` (the projection of token states to the
scoring width) and ``colbert.json``. Token vectors are unit length, so a query token's
similarity to a document token is their cosine; a pair scores the sum over the query's
tokens of the best cosine over the document's tokens (MaxSim, Khattab & Zaharia 2020).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor

FORMAT = "ragdistill-colbert/1"
CONFIG_NAME = "colbert.json"
LINEAR_NAME = "colbert_linear.safetensors"


class ColBERTModel(torch.nn.Module):
    """Encoder + linear projection producing unit-length token vectors."""

    def __init__(
        self,
        encoder: Any,
        tokenizer: Any,
        linear: torch.nn.Linear,
        *,
        max_query_length: int = 32,
        max_doc_length: int = 256,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.linear = linear
        self.max_query_length = max_query_length
        self.max_doc_length = max_doc_length

    @property
    def dim(self) -> int:
        return int(self.linear.out_features)

    def encode(self, texts: list[str], *, is_query: bool) -> tuple[Tensor, Tensor]:
        """Token vectors ``[N, L, dim]`` (unit length) and the real-token mask ``[N, L]``."""
        limit = self.max_query_length if is_query else self.max_doc_length
        device = next(self.encoder.parameters()).device
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=limit, return_tensors="pt"
        ).to(device)
        hidden = self.encoder(**batch).last_hidden_state
        vectors = F.normalize(self.linear(hidden), dim=-1)
        return vectors, batch["attention_mask"].bool()

    def forward(
        self, queries: list[str], documents: list[list[str]], *, per_token: bool = False
    ) -> Tensor:
        """Scores ``[B, K]`` of ``K`` documents for each of ``B`` queries.

        ``per_token`` divides each query's scores by its number of tokens (a per-query
        constant, so rankings are unchanged): scores then lie in [-1, 1], the scale of
        a cosine-scoring teacher.
        """
        width = len(documents[0]) if documents else 0
        q, q_mask = self.encode(queries, is_query=True)
        d, d_mask = self.encode([d for docs in documents for d in docs], is_query=False)
        shape = (len(queries), width, d.shape[1])
        scores = maxsim(q, q_mask, d.view(*shape, -1), d_mask.view(*shape))
        if per_token:
            scores = scores / q_mask.sum(dim=1, keepdim=True).clamp(min=1)
        return scores

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        save_file({"weight": self.linear.weight.detach().cpu().contiguous()}, path / LINEAR_NAME)
        config = {
            "format": FORMAT,
            "dim": self.dim,
            "hidden_size": int(self.linear.in_features),
            "max_query_length": self.max_query_length,
            "max_doc_length": self.max_doc_length,
        }
        (path / CONFIG_NAME).write_text(json.dumps(config, indent=2))

    @classmethod
    def load(
        cls, path: Path, *, device: Any = "cpu", trust_remote_code: bool = False
    ) -> ColBERTModel:
        from transformers import AutoModel, AutoTokenizer

        config = read_config(path)
        encoder = AutoModel.from_pretrained(path, trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        linear = torch.nn.Linear(config["hidden_size"], config["dim"], bias=False)
        linear.weight.data.copy_(load_file(path / LINEAR_NAME)["weight"])
        model = cls(
            encoder,
            tokenizer,
            linear,
            max_query_length=config["max_query_length"],
            max_doc_length=config["max_doc_length"],
        )
        return model.to(device).eval()


def read_config(path: Path) -> dict[str, Any]:
    from ragdistill.errors import ConfigError

    file = path / CONFIG_NAME
    if not file.is_file() or not (path / LINEAR_NAME).is_file():
        raise ConfigError(
            f"{path} is not a ColBERT model folder (no {CONFIG_NAME} or {LINEAR_NAME}); "
            "train one with a reranker recipe whose student kind is 'colbert'"
        )
    config: dict[str, Any] = json.loads(file.read_text())
    if config.get("format") != FORMAT:
        raise ConfigError(f"{file} has format {config.get('format')!r}, expected {FORMAT!r}")
    return config


def maxsim(q: Tensor, q_mask: Tensor, d: Tensor, d_mask: Tensor) -> Tensor:
    """Late interaction: ``q [B, Lq, D]``, ``d [B, K, Ld, D]`` with masks -> scores ``[B, K]``.

    Padding tokens of a document never win a max; padding tokens of a query add 0.
    """
    sim = torch.einsum("bqh,bklh->bkql", q.float(), d.float())
    sim = sim.masked_fill(~d_mask[:, :, None, :], -torch.inf)
    best = sim.amax(dim=-1)
    # A document with no tokens (cannot happen with special tokens, but be safe) scores 0.
    best = torch.where(torch.isinf(best), torch.zeros_like(best), best)
    return best.masked_fill(~q_mask[:, None, :], 0.0).sum(dim=-1)
