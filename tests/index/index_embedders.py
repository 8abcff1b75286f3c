"""Genuine Embedder implementations for the index tests (no model needed)."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from ragdistill.contracts import Embedder, FloatArray, InputType


class HashingEmbedder(Embedder):
    """Bag-of-words vectors: each word adds 1 to a bucket chosen by its sha1.

    Texts sharing words are close, so retrieval on small made-up corpora is
    predictable; ``salt`` gives a different vector space of the same dimension.
    """

    def __init__(self, dim: int = 64, salt: str = "") -> None:
        self.dim = dim
        self.salt = salt
        self.options = {"dim": dim, "salt": salt}

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                digest = hashlib.sha1((self.salt + word).encode()).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dim] += 1.0
            out[row, -1] += 1e-3  # never an all-zero vector (cosine is undefined there)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class CountingEmbedder(Embedder):
    """Wraps another embedder, counting the texts it embeds; same fingerprint as it."""

    def __init__(self, inner: Embedder, *, fail_after_batches: int | None = None) -> None:
        self.inner = inner
        self.texts: list[str] = []
        self.batches = 0
        self.fail_after_batches = fail_after_batches
        self.model = getattr(inner, "model", None)
        self._dimension = inner.dimension  # probe the inner one: not counted

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        if input_type == "document":
            if self.fail_after_batches is not None and self.batches >= self.fail_after_batches:
                raise KeyboardInterrupt("simulated kill")
            self.batches += 1
            self.texts.extend(texts)
        return self.inner.embed_batch(texts, input_type=input_type)

    def describe(self) -> dict[str, object]:
        return self.inner.describe()


class SeededEmbedder(Embedder):
    """A random unit vector per text, seeded by its sha256: distinct texts, distinct vectors.

    Every passage is then the only exact match of its own vector, which makes "is it
    still in the index" a search.
    """

    def __init__(self, dim: int = 32) -> None:
        self.dim = dim
        self.options = {"dim": dim}

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            out[row] = np.random.default_rng(seed).standard_normal(self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)
