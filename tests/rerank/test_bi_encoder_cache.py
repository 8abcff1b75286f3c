"""The bi-encoder reranker's in-memory document cache, on a tiny real SentenceTransformer.

A candidate document comes back for many queries; its embedding is computed once and
kept (bounded, least recently used evicted). Embed calls are counted by a subclass of
the real embedder, which embeds as usual.
"""

from __future__ import annotations

import copy
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest

from ragdistill.contracts import InputType
from ragdistill.errors import ConfigError
from ragdistill.stages.embedder.components import SentenceTransformerEmbedder
from ragdistill.stages.reranker.components import BiEncoderReranker, CrossEncoderReranker
from ragdistill.stages.reranker.ensemble import EnsembleReranker
from ragdistill.teacher_cache import content_key, fingerprint

QUERIES = ["capital of france", "where do rivers flow", "what is a search model"]
DOCS = [
    "paris is the capital of france",
    "rivers flow to the sea",
    "a model for search and retrieval",
    "the king had a red horse",
]


class CountingEmbedder(SentenceTransformerEmbedder):
    """The real embedder; records every text it was asked to embed, by input type."""

    def __init__(self, model: str) -> None:
        super().__init__(model, normalize=True)
        self.embedded: dict[str, list[str]] = {"query": [], "document": []}

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> np.ndarray:
        self.embedded[input_type].extend(texts)
        return super().embed_batch(texts, input_type=input_type)


def counting(path: Path, **options: object) -> tuple[BiEncoderReranker, CountingEmbedder]:
    reranker = BiEncoderReranker(str(path), **options)  # type: ignore[arg-type]
    embedder = CountingEmbedder(str(path))
    reranker.embedder = embedder
    return reranker, embedder


def test_scores_are_the_same_with_and_without_the_cache(tiny_st_path: Path) -> None:
    cached, _ = counting(tiny_st_path)
    plain, _ = counting(tiny_st_path, document_cache_size=0)
    for query in QUERIES:  # later queries read documents embedded for earlier ones
        with_cache = cached.score(query, DOCS)
        without = plain.score(query, DOCS)
        # A document embedded in another batch may differ in the last float bit.
        np.testing.assert_allclose(with_cache, without, rtol=0, atol=1e-6)
        assert [d.index for d in cached.rerank(query, DOCS)] == [
            d.index for d in plain.rerank(query, DOCS)
        ]


def test_a_repeated_document_is_embedded_once(tiny_st_path: Path) -> None:
    reranker, embedder = counting(tiny_st_path)
    for query in QUERIES:
        reranker.score(query, DOCS)
    reranker.score_many([(QUERIES[0], DOCS[0]), (QUERIES[1], DOCS[0])])
    assert sorted(embedder.embedded["document"]) == sorted(DOCS)
    assert embedder.embedded["query"] == [*QUERIES, QUERIES[0], QUERIES[1]]  # never cached
    assert len(reranker.document_cache) == len(DOCS)
    assert reranker.document_cache.hits == 2 * len(DOCS) + 1  # the last call: one distinct doc

    # Off: every call embeds its documents again.
    plain, plain_embedder = counting(tiny_st_path, document_cache_size=0)
    for query in QUERIES:
        plain.score(query, DOCS)
    assert len(plain_embedder.embedded["document"]) == len(QUERIES) * len(DOCS)
    assert len(plain.document_cache) == 0


def test_the_cache_is_bounded_and_evicts_the_least_recently_used(tiny_st_path: Path) -> None:
    reranker, embedder = counting(tiny_st_path, document_cache_size=2)
    reranker.score(QUERIES[0], DOCS[:2])  # cached: 0, 1
    reranker.score(QUERIES[0], [DOCS[0]])  # 0 is now the newest
    reranker.score(QUERIES[0], [DOCS[2]])  # evicts 1, the least recently used
    assert len(reranker.document_cache) == 2
    embedder.embedded["document"].clear()
    reranker.score(QUERIES[1], [DOCS[0], DOCS[2]])
    assert embedder.embedded["document"] == []  # both still cached
    reranker.score(QUERIES[1], [DOCS[1]])
    assert embedder.embedded["document"] == [DOCS[1]]  # evicted, so embedded again
    assert len(reranker.document_cache) == 2

    # More distinct documents in one call than the cache holds: all scored, the last kept.
    reranker.document_cache.clear()
    scores = reranker.score(QUERIES[2], DOCS)
    assert scores.shape == (len(DOCS),) and np.isfinite(scores).all()
    assert len(reranker.document_cache) == 2


def test_cached_vectors_are_read_only_copies(tiny_st_path: Path) -> None:
    reranker, _ = counting(tiny_st_path)
    vectors = reranker.document_vectors(DOCS[:2])
    vectors[:] = 0.0  # the caller's array is its own
    again = reranker.document_vectors(DOCS[:2])
    assert np.abs(again).sum() > 0
    stored = reranker.document_cache.get_many([content_key(DOCS[0])])[0]
    assert stored is not None and not stored.flags.writeable


def test_threads_share_one_cache_safely(tiny_st_path: Path) -> None:
    reranker, _ = counting(tiny_st_path, document_cache_size=3)
    expected = {q: reranker.score(q, DOCS) for q in QUERIES}
    errors: list[BaseException] = []

    def work(query: str) -> None:
        try:
            for _ in range(5):
                np.testing.assert_allclose(reranker.score(query, DOCS), expected[query], atol=1e-6)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(q,)) for q in QUERIES * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(reranker.document_cache) <= 3


def test_the_cache_size_is_operational_not_identity(tiny_st_path: Path) -> None:
    default = BiEncoderReranker.from_options({"model": str(tiny_st_path)})
    sized = BiEncoderReranker.from_options({"model": str(tiny_st_path), "document_cache_size": 5})
    off = BiEncoderReranker.from_options({"model": str(tiny_st_path), "document_cache_size": 0})
    assert sized.describe()["options"]["document_cache_size"] == 5  # recorded in manifests...
    # ...but teacher caches and index fingerprints are keyed without it.
    assert fingerprint(default.describe()) == fingerprint(sized.describe())
    assert fingerprint(default.describe()) == fingerprint(off.describe())
    with pytest.raises(ConfigError, match="document_cache_size must be >= 0"):
        BiEncoderReranker(str(tiny_st_path), document_cache_size=-1)


def test_a_copy_or_pickle_starts_with_an_empty_cache(tiny_st_path: Path) -> None:
    reranker, _ = counting(tiny_st_path, document_cache_size=7)
    reranker.score(QUERIES[0], DOCS)
    cache = reranker.document_cache
    for clone in (copy.deepcopy(cache), pickle.loads(pickle.dumps(cache))):
        assert clone.capacity == 7 and len(clone) == 0
        clone.put_many(["k"], np.ones((1, 3), dtype=np.float32))
        assert len(clone) == 1 and len(cache) == len(DOCS)


def test_rerankers_name_their_model(tiny_st_path: Path, tiny_cross_encoder_path: Path) -> None:
    bi = BiEncoderReranker(str(tiny_st_path))
    cross = CrossEncoderReranker(str(tiny_cross_encoder_path))
    assert bi.model_name == bi.model == str(tiny_st_path)
    assert cross.model_name == cross.model == str(tiny_cross_encoder_path)
    ensemble = EnsembleReranker(
        [
            {"kind": "cross-encoder", "model": str(tiny_cross_encoder_path)},
            {"kind": "bi-encoder", "model": str(tiny_st_path)},
        ]
    )
    assert ensemble.model_name == f"ensemble({tiny_cross_encoder_path}, {tiny_st_path})"
    assert "model_name" not in ensemble.describe()  # a display name, not identity


def test_a_reranker_built_in_code_is_named_by_its_model(tiny_st_path) -> None:
    from ragdistill.adapters import model_name
    from ragdistill.stages.reranker.components import BiEncoderReranker

    assert model_name(BiEncoderReranker(str(tiny_st_path))) == str(tiny_st_path)
