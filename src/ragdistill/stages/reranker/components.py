"""Rerankers: a cross-encoder classifier, and a bi-encoder scoring by cosine similarity."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragdistill.contracts import FloatArray, Pair, Reranker
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
from ragdistill.stages.embedder.components import SentenceTransformerEmbedder
from ragdistill.teacher_cache import content_key


class CrossEncoderReranker(ModelNamed, Reranker):
    """An ``AutoModelForSequenceClassification`` reading ``[query, document]`` pairs.

    The score is the raw logit of a one-label model, or the log-odds of the positive
    label (``logit[1] - logit[0]``, ordered like its softmax probability) of a two-label
    one. Pairs longer than ``max_length`` tokens are truncated, longest side first.
    """

    @classmethod
    def folder_match(cls, folder: Path, config: Mapping[str, Any]) -> int:
        archs = " ".join(config.get("architectures") or [])
        return 20 if "SequenceClassification" in archs else 0

    def __init__(
        self,
        model: str,
        max_length: int = 512,
        device: str = "cpu",
        batch_size: int = 32,
        trust_remote_code: bool = False,
    ) -> None:
        check_positive(max_length=max_length, batch_size=batch_size)
        self.model = check_model_name(model)
        self.max_length = max_length
        self.device = device
        self.batch_size = batch_size
        self.trust_remote_code = trust_remote_code
        self._loaded: Lazy[tuple[Any, Any, int]] = Lazy(self._load)

    @property
    def model_name(self) -> str:
        """The model as given (a name, a folder or a hub id): what the shims report."""
        return self.model

    def _load(self) -> tuple[Any, Any, int]:
        transformers = require("transformers", extra="hf")
        tokenizer = load_tokenizer(self.model, trust_remote_code=self.trust_remote_code)
        model = load_pretrained(
            transformers.AutoModelForSequenceClassification,
            self.model,
            what="cross-encoder",
            trust_remote_code=self.trust_remote_code,
        )
        labels = int(model.config.num_labels)
        if labels not in (1, 2):
            raise ConfigError(
                f"cross-encoder {self.model!r} has {labels} labels; a reranker needs a model "
                f"with one relevance logit or two (not relevant, relevant)"
            )
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
            model.config.pad_token_id = tokenizer.pad_token_id
        model.to(torch_device(self.device)).eval()
        return model, tokenizer, context_length(model, tokenizer, self.max_length)

    def score_pairs(self, pairs: list[Pair]) -> FloatArray:
        import torch

        model, tokenizer, limit = self._loaded.get()
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        batch = tokenizer(
            [q for q, _ in pairs],
            [d for _, d in pairs],
            padding=True,
            truncation="longest_first",
            max_length=limit,
            return_tensors="pt",
        ).to(model.device)
        with torch.inference_mode():
            logits = model(**batch).logits.float()
        scores = logits[:, 0] if logits.shape[1] == 1 else logits[:, 1] - logits[:, 0]
        return np.asarray(scores.cpu().numpy(), dtype=np.float32)


class BiEncoderReranker(ModelNamed, Reranker):
    """Cosine similarity of SentenceTransformer query and document embeddings.

    Cheaper and weaker than a cross-encoder; useful as a teacher for bi-encoder
    students, whose scores it matches in kind. The embeddings of the last
    ``document_cache_size`` distinct documents are kept in memory (keyed by a hash of
    the text, least recently used evicted; 0 turns it off), so a document that comes back
    as a candidate of another query is not embedded again. Queries are always embedded.
    """

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        batch_size: int = 32,
        query_prefix: str = "",
        document_prefix: str = "",
        max_seq_length: int | None = None,
        trust_remote_code: bool = False,
        document_cache_size: int = 10_000,
    ) -> None:
        if document_cache_size < 0:
            raise ConfigError(
                f"document_cache_size must be >= 0 (0 turns the cache off), got {document_cache_size}"
            )
        self.model = check_model_name(model)
        self.batch_size = batch_size
        self.embedder = SentenceTransformerEmbedder(
            model,
            device=device,
            batch_size=batch_size,
            normalize=True,
            query_prefix=query_prefix,
            document_prefix=document_prefix,
            max_seq_length=max_seq_length,
            trust_remote_code=trust_remote_code,
        )
        self.document_cache = VectorCache(document_cache_size)

    @property
    def model_name(self) -> str:
        """The model as given (a name, a folder or a hub id): what the shims report."""
        return self.model

    def score_pairs(self, pairs: list[Pair]) -> FloatArray:
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        # Each distinct query and document is embedded once: a rerank call repeats the query.
        queries = list(dict.fromkeys(q for q, _ in pairs))
        docs = list(dict.fromkeys(d for _, d in pairs))
        q_vecs = self.embedder.embed_batch(queries, input_type="query")
        d_vecs = self.document_vectors(docs)
        q_index = {q: i for i, q in enumerate(queries)}
        d_index = {d: i for i, d in enumerate(docs)}
        rows = q_vecs[[q_index[q] for q, _ in pairs]]
        cols = d_vecs[[d_index[d] for _, d in pairs]]
        return np.asarray(np.einsum("ij,ij->i", rows, cols), dtype=np.float32)

    def document_vectors(self, docs: list[str]) -> FloatArray:
        """Unit embeddings of ``docs`` (distinct), the cached ones not embedded again."""
        if not self.document_cache.capacity:
            return self.embedder.embed_batch(docs, input_type="document")
        keys = [content_key(d) for d in docs]
        found = self.document_cache.get_many(keys)
        todo = [i for i, vector in enumerate(found) if vector is None]
        if todo:
            fresh = self.embedder.embed_batch([docs[i] for i in todo], input_type="document")
            self.document_cache.put_many([keys[i] for i in todo], fresh)
            for row, i in enumerate(todo):
                found[i] = fresh[row]
        return np.stack([v for v in found if v is not None]).astype(np.float32, copy=False)


class VectorCache:
    """At most ``capacity`` vectors by key, the least recently used evicted first.

    Safe to share between threads (one lock around each lookup or insert, never around
    the embedding itself: two threads missing one key both compute it, and either result
    is kept). Stored vectors are read-only copies. A copy or a pickle of it starts empty.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, FloatArray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get_many(self, keys: Sequence[str]) -> list[FloatArray | None]:
        """Each key's vector, or None where it is not cached; found keys become the newest."""
        out: list[FloatArray | None] = []
        with self._lock:
            for key in keys:
                vector = self._items.get(key)
                if vector is not None:
                    self._items.move_to_end(key)
                out.append(vector)
            found = sum(v is not None for v in out)
            self.hits += found
            self.misses += len(out) - found
        return out

    def put_many(self, keys: Sequence[str], vectors: FloatArray) -> None:
        """Store one vector per key (rows of ``vectors``), evicting the oldest past capacity."""
        if not self.capacity:
            return
        rows = []
        for vector in vectors:  # one copy per row: an evicted row frees its own memory
            row = np.array(vector, dtype=np.float32)
            row.setflags(write=False)
            rows.append(row)
        with self._lock:
            for key, row in zip(keys, rows, strict=True):
                self._items[key] = row
                self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"capacity": self.capacity}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["capacity"])  # type: ignore[misc]
