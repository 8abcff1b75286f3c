"""A made-up judged dataset and genuine embedders of known quality for the A/B tests."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from ragdistill.contracts import Embedder, FloatArray, InputType

TOPICS = [
    "volcano lava eruption", "glacier ice melting", "desert sand dunes", "coral reef fish",
    "rainforest canopy birds", "tundra permafrost moss", "savanna lions grazing", "canyon river erosion",
    "island palm beaches", "prairie wheat farming", "marsh reeds frogs", "cave stalactite bats",
    "fjord cliffs ferries", "delta silt flooding", "plateau wind turbines", "lagoon mangrove crabs",
    "valley vineyard grapes", "steppe horses nomads", "atoll ring shallow", "moor heather sheep",
]  # fmt: skip


class BagOfWords(Embedder):
    """Word-hashing vectors: with many buckets, documents and queries sharing words match;
    with few buckets, words collide and retrieval gets worse, predictably."""

    def __init__(self, dim: int, salt: str = "") -> None:
        self.dim = dim
        self.salt = salt
        self.options = {"dim": dim, "salt": salt}

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        out = np.full((len(texts), self.dim), 1e-3, dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                digest = hashlib.sha1((self.salt + word).encode()).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dim] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)
