"""A ColBERT-style late-interaction reranker with stored document token vectors."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragdistill.contracts import FloatArray, Pair, Reranker
from ragdistill.contracts.reranker import _check_pairs
from ragdistill.errors import ConfigError, require
from ragdistill.hf._loading import (
    Lazy,
    ModelNamed,
    _resolve,
    check_model_name,
    check_positive,
    torch_device,
)
from ragdistill.teacher_cache import content_key


class ColBERTReranker(ModelNamed, Reranker):
    """Scores a pair as the sum over query tokens of the best cosine over document tokens.

    Document token vectors are computed once per distinct text and kept (float16,
    keyed by a hash of the text): :meth:`index_documents` computes them ahead, as an
    indexing step would, so at search time only the query is encoded. ``doc_index``
    names a safetensors file that holds them between processes: it is read on load when
    it exists, and :meth:`save_index` writes it. Documents not yet stored are encoded
    when first scored.

    ``max_query_length`` / ``max_doc_length`` default to what the model was trained with.
    """

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        batch_size: int = 32,
        max_query_length: int | None = None,
        max_doc_length: int | None = None,
        doc_index: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        check_positive(
            batch_size=batch_size, max_query_length=max_query_length, max_doc_length=max_doc_length
        )
        self.model = check_model_name(model)
        self.device = device
        self.batch_size = batch_size
        self.max_query_length = max_query_length
        self.max_doc_length = max_doc_length
        self.doc_index = doc_index
        self.trust_remote_code = trust_remote_code
        self._store: dict[str, Any] = {}
        # The model, and a lock held around each of its encodes: queries and documents
        # are truncated to different lengths, settings of the one shared fast tokenizer
        # that an encode in another thread could change between setting and encoding.
        self._loaded: Lazy[tuple[Any, threading.Lock]] = Lazy(self._load)

    def _load(self) -> tuple[Any, threading.Lock]:
        require("transformers", extra="hf")
        from ragdistill.stages.reranker._colbert_model import ColBERTModel

        path = Path(_resolve(self.model))
        if not path.is_dir():
            raise ConfigError(f"ColBERT model {self.model!r} is not a folder; give a model folder")
        model = ColBERTModel.load(
            path, device=torch_device(self.device), trust_remote_code=self.trust_remote_code
        )
        if self.max_query_length is not None:
            model.max_query_length = self.max_query_length
        if self.max_doc_length is not None:
            model.max_doc_length = self.max_doc_length
        if self.doc_index and Path(self.doc_index).is_file():
            self.load_index(self.doc_index)
        return model, threading.Lock()

    @property
    def stored(self) -> int:
        """Number of documents whose token vectors are stored."""
        return len(self._store)

    def index_documents(self, documents: Sequence[str], *, show_progress: bool = False) -> int:
        """Compute and store the token vectors of documents not stored yet; returns how many."""
        import torch
        from tqdm.auto import tqdm

        model, lock = self._loaded.get()
        todo = list(dict.fromkeys(d for d in documents if content_key(d) not in self._store))
        with tqdm(
            total=len(todo), desc="colbert: indexing documents", disable=not show_progress
        ) as bar:
            for start in range(0, len(todo), self.batch_size):
                batch = todo[start : start + self.batch_size]
                with lock, torch.inference_mode():
                    vectors, mask = model.encode(batch, is_query=False)
                for text, vec, keep in zip(batch, vectors, mask):
                    self._store[content_key(text)] = vec[keep].to("cpu", torch.float16).clone()
                bar.update(len(batch))
        return len(todo)

    def save_index(self, path: str | Path | None = None) -> Path:
        """Write the stored document vectors to a safetensors file (``doc_index`` by default)."""
        from safetensors.torch import save_file

        target = Path(path or self.doc_index or "")
        if not str(path or self.doc_index or ""):
            raise ConfigError("save_index needs a path: pass one, or set doc_index")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        save_file(dict(self._store), tmp)
        tmp.replace(target)
        return target

    def load_index(self, path: str | Path) -> int:
        """Add the document vectors of a file :meth:`save_index` wrote; returns how many."""
        from safetensors.torch import load_file

        found = load_file(str(path))
        self._store.update(found)
        return len(found)

    def score_many(
        self, pairs: Sequence[Pair], *, batch_size: int | None = None, show_progress: bool = False
    ) -> FloatArray:
        # One call: each distinct query is encoded once, however many candidates it has
        # (documents are encoded, when not stored yet, in batches of batch_size).
        items = _check_pairs(pairs)
        return (
            self._checked(self.score_pairs(items), len(items)) if items else np.zeros(0, np.float32)
        )

    def score_pairs(self, pairs: list[Pair]) -> FloatArray:
        import torch

        model, lock = self._loaded.get()
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        self.index_documents([d for _, d in pairs])
        out = np.zeros(len(pairs), dtype=np.float32)
        groups: dict[str, list[int]] = {}
        for i, (query, _) in enumerate(pairs):
            groups.setdefault(query, []).append(i)
        with torch.inference_mode():
            for start in range(0, len(groups), self.batch_size):
                chunk = list(groups)[start : start + self.batch_size]
                with lock:
                    q, q_mask = model.encode(chunk, is_query=True)
                for g, query in enumerate(chunk):
                    rows = groups[query]
                    docs = [self._store[content_key(pairs[i][1])] for i in rows]
                    out[rows] = self._maxsim(q[g], q_mask[g], docs)
        return out

    def _maxsim(self, q: Any, q_mask: Any, docs: list[Any]) -> np.ndarray:
        """One query's scores against stored documents, padded in slices of 128."""
        import torch
        from torch.nn.utils.rnn import pad_sequence

        from ragdistill.stages.reranker._colbert_model import maxsim

        parts = []
        for start in range(0, len(docs), 128):
            part = docs[start : start + 128]
            padded = pad_sequence(part, batch_first=True).to(q.device, torch.float32)
            lengths = torch.tensor([len(d) for d in part], device=q.device)
            d_mask = torch.arange(padded.shape[1], device=q.device)[None, :] < lengths[:, None]
            parts.append(maxsim(q[None], q_mask[None], padded[None], d_mask[None])[0])
        return torch.cat(parts).float().cpu().numpy()
