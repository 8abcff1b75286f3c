"""A reusable contract suite for Chroma embedding functions built on ragdistill.

Subclass it in a ``Test*`` class and override the ``embedding_function`` fixture::

    class TestMyFunction(EmbeddingFunctionContract):
        @pytest.fixture
        def embedding_function(self):
            return RagdistillEmbeddingFunction("runs/minilm/student")

Collections are made in a real embedded Chroma (an ``EphemeralClient``, and a
``PersistentClient`` under ``tmp_path`` for the reopen check).
"""

from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

TEXTS = [
    "The capital of France is Paris.",
    "Rivers flow from the mountains to the sea.",
    "A dog and a cat play in the garden.",
    "Distillation trains a small model to imitate a large one.",
]
QUERY = "What is the capital of France?"
EDGE_CASES = ["", "distillation " * 4000, "Zürich, 東京, Καλημέρα, naïve café, emoji 🚀"]


def _check(vectors: Any, count: int, dimension: int | None = None) -> int:
    assert len(vectors) == count
    sizes = {len(v) for v in vectors}
    assert len(sizes) == 1, f"vectors of different lengths {sizes}"
    size = sizes.pop()
    assert dimension is None or size == dimension
    assert all(math.isfinite(float(x)) for v in vectors for x in v)
    return size


class EmbeddingFunctionContract:
    """A Chroma ``EmbeddingFunction``: shapes, batch == single, edge cases, real collections."""

    rtol = 1e-4
    atol = 1e-5

    @pytest.fixture
    def embedding_function(self) -> Any:
        raise NotImplementedError("override the embedding_function fixture")

    def test_shapes(self, embedding_function: Any) -> None:
        dimension = _check(embedding_function(TEXTS), len(TEXTS))
        _check(embedding_function.embed_query([QUERY]), 1, dimension)

    def test_batch_equals_single(self, embedding_function: Any) -> None:
        batch = embedding_function(TEXTS)
        single = [embedding_function([t])[0] for t in TEXTS]
        np.testing.assert_allclose(
            np.asarray(batch), np.asarray(single), rtol=self.rtol, atol=self.atol
        )

    @pytest.mark.parametrize("text", EDGE_CASES, ids=["empty", "over-long", "unicode"])
    def test_edge_case_inputs(self, embedding_function: Any, text: str) -> None:
        dimension = _check(embedding_function([TEXTS[0]]), 1)
        _check(embedding_function([text, TEXTS[0]]), 2, dimension)
        _check(embedding_function.embed_query([text]), 1, dimension)

    def test_names_itself(self, embedding_function: Any) -> None:
        assert isinstance(embedding_function.name(), str) and embedding_function.name()
        assert embedding_function.default_space() in embedding_function.supported_spaces()

    def test_in_a_collection(self, embedding_function: Any) -> None:
        import chromadb

        client = chromadb.EphemeralClient()
        name = f"contract-{uuid.uuid4().hex[:12]}"
        collection = client.create_collection(name, embedding_function=embedding_function)
        try:
            collection.add(ids=[f"d{i}" for i in range(len(TEXTS))], documents=TEXTS)
            found = collection.query(query_texts=[QUERY], n_results=2)
            assert len(found["ids"][0]) == 2
            stored = collection.get(ids=["d0"], include=["embeddings"])["embeddings"]
            assert stored is not None
            np.testing.assert_allclose(
                stored[0], embedding_function([TEXTS[0]])[0], rtol=self.rtol, atol=self.atol
            )
        finally:
            client.delete_collection(name)

    def test_config_round_trip(self, embedding_function: Any) -> None:
        config = embedding_function.get_config()
        if config is NotImplemented:
            pytest.skip("built from a component: Chroma treats it as a legacy function")
        rebuilt = type(embedding_function).build_from_config(config)
        np.testing.assert_allclose(
            np.asarray(rebuilt(TEXTS)),
            np.asarray(embedding_function(TEXTS)),
            rtol=self.rtol,
            atol=self.atol,
        )

    def test_reopens_without_passing_it_again(
        self, embedding_function: Any, tmp_path: Path
    ) -> None:
        if embedding_function.get_config() is NotImplemented:
            pytest.skip("built from a component: Chroma treats it as a legacy function")
        import chromadb

        first = chromadb.PersistentClient(path=str(tmp_path / "db"))
        first.create_collection("docs", embedding_function=embedding_function).add(
            ids=[f"d{i}" for i in range(len(TEXTS))], documents=TEXTS
        )
        expected = first.get_collection("docs").query(query_texts=[QUERY], n_results=3)["ids"]
        reopened = chromadb.PersistentClient(path=str(tmp_path / "db")).get_collection("docs")
        assert reopened.query(query_texts=[QUERY], n_results=3)["ids"] == expected
