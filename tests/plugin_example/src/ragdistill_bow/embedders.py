"""Two embedders: the hashing teacher, and the loader of a trained student's artifact.

Both run on numpy alone, so a distilled student serves without torch.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ragdistill.contracts import Embedder, InputType
from ragdistill.errors import ConfigError

WORD = re.compile(r"\w+")
#: The file a student artifact describes itself in (beside ``model.safetensors``).
CONFIG_FILE = "bag_of_words.json"


def hashed_words(text: str, buckets: int) -> list[int]:
    """The bucket of each word of ``text``: what the student trains on and serves with."""
    return [zlib.crc32(w.encode()) % buckets for w in WORD.findall(text.lower())]


def normalized(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: np.ndarray = (rows / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


class HashedNgramEmbedder(Embedder):
    """The teacher: counts of words and word pairs, hashed into ``width`` slots.

    No model to download; it stands in for the large embedder you would distill.
    """

    def __init__(self, width: int = 1024, ngrams: int = 2) -> None:
        if width < 8:
            raise ConfigError(f"teacher.width must be >= 8, got {width}")
        if not 1 <= ngrams <= 3:
            raise ConfigError(f"teacher.ngrams must be 1, 2 or 3, got {ngrams}")
        self.width = width
        self.ngrams = ngrams

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> np.ndarray:
        out = np.zeros((len(texts), self.width), dtype=np.float32)
        for row, text in enumerate(texts):
            words = WORD.findall(text.lower())
            for n in range(1, self.ngrams + 1):
                for i in range(len(words) - n + 1):
                    gram = " ".join(words[i : i + n])
                    out[row, zlib.crc32(gram.encode()) % self.width] += 1.0
        return normalized(np.log1p(out))


class BagOfWordsEmbedder(Embedder):
    """A trained bag-of-words student, loaded from its artifact folder ``model``."""

    batch_size = 256

    def __init__(self, model: str) -> None:
        self.model = model  # where a report or an index finds the weights
        self._table: np.ndarray | None = None  # loaded on first use, never in __init__

    @classmethod
    def folder_match(cls, folder: Path, config: Mapping[str, Any]) -> int:
        return 10 if (folder / CONFIG_FILE).is_file() else 0  # a saved student, manifest or not

    def table(self) -> np.ndarray:
        if self._table is None:
            folder = Path(self.model)
            if not (folder / CONFIG_FILE).is_file():
                raise ConfigError(f"{folder} holds no {CONFIG_FILE}: not a bag-of-words student")
            from safetensors.numpy import load_file

            self._table = load_file(folder / "model.safetensors")["embeddings"]
        return self._table

    def parameter_count(self) -> int:
        return int(self.table().size)

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> np.ndarray:
        table = self.table()
        rows = [hashed_words(text, len(table)) for text in texts]
        out = np.stack([table[ids].mean(axis=0) if ids else table[0] * 0 for ids in rows])
        return normalized(out)


def save_table(folder: Path, table: np.ndarray) -> None:
    """Write a student artifact: the embedding table and the config that names it."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({"embeddings": table.astype(np.float32)}, folder / "model.safetensors")
    config = {"buckets": int(table.shape[0]), "dimension": int(table.shape[1])}
    (folder / CONFIG_FILE).write_text(json.dumps(config))
