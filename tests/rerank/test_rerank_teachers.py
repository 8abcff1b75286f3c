"""Reranker teachers: the ensemble, the score cache, ColBERT with stored document vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragdistill.errors import ConfigError
from ragdistill.testing.contracts import RerankerContract

QUERY = "x y"
DOCS = ["x y z w", "z", "x q"]  # word overlap [2, 0, 1]; word count [4, 1, 2]


@pytest.fixture(scope="module")
def colbert_path(tmp_path_factory: pytest.TempPathFactory, tiny_st_path: Path) -> Path:
    from ragdistill.stages.reranker.students import ColBERTStudent

    path = tmp_path_factory.mktemp("colbert") / "model"
    ColBERTStudent(str(tiny_st_path), dim=16, max_doc_length=64).build().save_artifact(path)
    return path


class TestColBERTReranker(RerankerContract):
    atol = 2e-3  # document vectors are stored in float16

    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, colbert_path: Path):
        from ragdistill.stages.reranker.colbert import ColBERTReranker

        return ColBERTReranker(str(colbert_path), batch_size=2)


def test_ensemble_zscore_matches_hand_computed(fake_rerankers):
    from ragdistill.stages.reranker.ensemble import EnsembleReranker

    members = [{"kind": "word-overlap"}, {"kind": "word-count"}]
    ensemble = EnsembleReranker(members, weights=[2.0, 1.0])
    # overlap z = [1.2247, -1.2247, 0]; count z = [1.3363, -1.0690, -0.2673]
    np.testing.assert_allclose(ensemble.score(QUERY, DOCS), [3.7858, -3.5185, -0.2673], atol=1e-3)
    minmax = EnsembleReranker(members, weights=[2.0, 1.0], normalize="minmax")
    np.testing.assert_allclose(minmax.score(QUERY, DOCS), [3.0, 0.0, 4 / 3], atol=1e-5)
    # Each query is normalised over its own candidates, even within one call.
    pairs = [(QUERY, d) for d in DOCS] + [("z", "z"), ("z", "a b")]
    scores = ensemble.score_many(pairs)
    np.testing.assert_allclose(scores[:3], ensemble.score(QUERY, DOCS), atol=1e-6)
    np.testing.assert_allclose(scores[3:], [2 * 1 + -1, 2 * -1 + 1], atol=1e-5)
    assert ensemble.describe()["members"][1]["class"].endswith("WordCountReranker")


class TestEnsembleWithoutNormalization(RerankerContract):
    """With normalize = "none" an ensemble scores pairs independently: the full contract holds."""

    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, tiny_cross_encoder_path: Path, tiny_st_path: Path):
        from ragdistill.stages.reranker.ensemble import EnsembleReranker

        members = [
            {"kind": "cross-encoder", "model": str(tiny_cross_encoder_path)},
            {"kind": "bi-encoder", "model": str(tiny_st_path)},
        ]
        return EnsembleReranker(members, weights=[1.0, 0.5], normalize="none")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"members": []}, "at least one"),
        ({"members": [{"model": "m"}]}, "naming a reranker"),
        ({"members": [{"kind": "word-overlap"}], "weights": [1.0, 2.0]}, "one weight per member"),
        ({"members": [{"kind": "word-overlap"}], "weights": [-1.0]}, ">= 0"),
        ({"members": [{"kind": "nope"}]}, "no reranker teacher named 'nope'"),
    ],
)
def test_ensemble_rejects_bad_options(fake_rerankers, kwargs, match):
    from ragdistill.stages.reranker.ensemble import EnsembleReranker

    with pytest.raises(ConfigError, match=match):
        EnsembleReranker(**kwargs)


def test_cached_reranker_scores_each_pair_once(fake_rerankers, tmp_path):
    from ragdistill.stages.reranker.cached_teacher import CachedReranker
    from tests.rerank.rerank_fakes import CountingReranker

    pairs = [(QUERY, d) for d in DOCS]
    first = CachedReranker(CountingReranker(batch_size=2), root=tmp_path)
    stats = first.fill(pairs + pairs[:1], show_progress=False)
    assert (stats.total, stats.computed) == (3, 3)
    np.testing.assert_allclose(first.score(QUERY, DOCS), [2, 0, 1])
    again = CachedReranker(CountingReranker(batch_size=2), root=tmp_path)  # a new process, say
    assert again.fill(pairs, show_progress=False).computed == 0
    np.testing.assert_allclose(again.score(QUERY, DOCS), [2, 0, 1])
    assert len(CountingReranker.scored) == 3


def test_cached_ensemble_caches_raw_scores_and_combines_per_query(fake_rerankers, tmp_path):
    from ragdistill.stages.reranker.cached_teacher import CachedReranker
    from ragdistill.stages.reranker.ensemble import EnsembleReranker

    ensemble = EnsembleReranker([{"kind": "word-overlap"}, {"kind": "word-count"}])
    cached = CachedReranker(ensemble, root=tmp_path)
    assert cached.cache.dim == 2
    np.testing.assert_allclose(cached.score(QUERY, DOCS), ensemble.score(QUERY, DOCS), atol=1e-6)
    sub = cached.scores_grouped([[(QUERY, d) for d in DOCS[:2]]])[0]
    np.testing.assert_allclose(sub, ensemble.score(QUERY, DOCS[:2]), atol=1e-6)


def test_cached_bi_encoder_embeds_through_the_embedder_cache(tiny_st_path, tmp_path):
    from ragdistill.distill.cached_teacher import CachedEmbedder
    from ragdistill.stages.embedder.components import SentenceTransformerEmbedder
    from ragdistill.stages.reranker.cached_teacher import CachedReranker
    from ragdistill.stages.reranker.components import BiEncoderReranker

    teacher = BiEncoderReranker.from_options({"model": str(tiny_st_path), "batch_size": 4})
    cached = CachedReranker(teacher, root=tmp_path)
    np.testing.assert_allclose(cached.score(QUERY, DOCS), teacher.score(QUERY, DOCS), atol=1e-5)
    # An embedder teacher with the same options finds the documents already embedded.
    embedder = SentenceTransformerEmbedder.from_options(
        {"model": str(tiny_st_path), "batch_size": 4}
    )
    assert CachedEmbedder(embedder, root=tmp_path).fill(DOCS, "document").computed == 0


def test_colbert_stores_documents_and_encodes_only_the_query(colbert_path, tmp_path, monkeypatch):
    from ragdistill.stages.reranker._colbert_model import ColBERTModel
    from ragdistill.stages.reranker.colbert import ColBERTReranker

    reranker = ColBERTReranker(str(colbert_path), doc_index=str(tmp_path / "docs.safetensors"))
    assert reranker.index_documents(DOCS + DOCS[:1]) == 3
    expected = reranker.score(QUERY, DOCS)
    reranker.save_index()
    calls: list[bool] = []
    encode = ColBERTModel.encode

    def spy(self, texts, *, is_query):
        calls.append(is_query)
        return encode(self, texts, is_query=is_query)

    monkeypatch.setattr(ColBERTModel, "encode", spy)
    reloaded = ColBERTReranker(str(colbert_path), doc_index=str(tmp_path / "docs.safetensors"))
    np.testing.assert_allclose(reloaded.score(QUERY, DOCS), expected, atol=1e-5)
    assert reloaded.stored == 3 and calls == [True]  # the documents came from the file


def test_colbert_refuses_a_folder_that_is_not_colbert(tiny_st_path):
    from ragdistill.stages.reranker.colbert import ColBERTReranker

    with pytest.raises(ConfigError, match="not a ColBERT model folder"):
        ColBERTReranker(str(tiny_st_path)).score("q", ["d"])


def test_registered_names(fake_rerankers):
    from ragdistill.registry import default_registry
    from ragdistill.stages.reranker.colbert import ColBERTReranker
    from ragdistill.stages.reranker.ensemble import EnsembleReranker
    from ragdistill.stages.reranker.students import (
        BiEncoderStudent,
        ColBERTStudent,
        CrossEncoderStudent,
    )

    registry = default_registry()
    assert registry.teacher("reranker", "colbert") is ColBERTReranker
    assert registry.teacher("reranker", "ensemble") is EnsembleReranker
    assert registry.student("reranker", "cross-encoder") is CrossEncoderStudent
    assert registry.student("reranker", "bi-encoder") is BiEncoderStudent
    assert registry.student("reranker", "colbert") is ColBERTStudent


def test_an_ensembles_bi_encoder_member_embeds_through_the_embedder_cache(
    fake_rerankers, tiny_st_path, tmp_path
):
    from ragdistill.distill.cached_teacher import CachedEmbedder
    from ragdistill.stages.embedder.components import SentenceTransformerEmbedder
    from ragdistill.stages.reranker.cached_teacher import CachedReranker
    from ragdistill.stages.reranker.ensemble import EnsembleReranker

    members = [{"kind": "bi-encoder", "model": str(tiny_st_path)}, {"kind": "word-overlap"}]
    ensemble = EnsembleReranker(members, weights=[1.0, 0.5])
    cached = CachedReranker(ensemble, root=tmp_path)
    np.testing.assert_allclose(cached.score(QUERY, DOCS), ensemble.score(QUERY, DOCS), atol=1e-5)
    embedder = SentenceTransformerEmbedder.from_options({"model": str(tiny_st_path)})
    assert CachedEmbedder(embedder, root=tmp_path).fill(DOCS, "document").computed == 0
