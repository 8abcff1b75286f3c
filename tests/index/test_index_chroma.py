"""ChromaIndex: search, embedder checks, incremental and resumable indexing."""

from __future__ import annotations

from pathlib import Path

import pytest
from index_embedders import CountingEmbedder, HashingEmbedder

from ragdistill.datasets import Document, Passage
from ragdistill.errors import ConfigError
from ragdistill.index import ChromaIndex, IndexMismatchError, embedder_fingerprint

pytest.importorskip("chromadb")

ANIMALS = [
    Passage("cat#0", "cat", "cats purr and chase mice"),
    Passage("cat#1", "cat", "a cat sleeps most of the day"),
    Passage("dog", "dog", "dogs bark and fetch sticks"),
    Passage("fish", "fish", "fish swim in water"),
    Passage("bird", "bird", "birds fly and sing songs"),
]


def corpus(n: int) -> list[Passage]:
    return [Passage(f"p{i}", f"p{i}", f"passage number {i} word{i} topic{i % 7}") for i in range(n)]


def test_search_ranks_documents_by_best_passage(tmp_path: Path, hashing: HashingEmbedder) -> None:
    index = ChromaIndex(hashing, path=tmp_path, collection="animals", show_progress=False)
    stats = index.add(ANIMALS)
    assert (stats.embedded, stats.unchanged, stats.deleted) == (5, 0, 0)
    assert len(index) == 5
    results = index.search(["which animal sleeps all day", "swim water"], k=2)
    assert results[0][0][0] == "cat" and results[1][0][0] == "fish"
    assert len(results[0]) == 2 and len({d for d, _ in results[0]}) == 2  # cat counted once
    assert -1.0 <= results[0][1][1] <= results[0][0][1] <= 1.0001
    top = index.search(["cats sleep"], k=10)[0]
    assert len(top) == 4  # every document once, though cat has two passages
    passages = index.search_passages(["cat"], k=5)[0]
    assert {p for p, _ in passages} >= {"cat#0", "cat#1"}
    timing = index.last_timing
    assert timing is not None and timing.n_queries == 1 and timing.total_s >= timing.encode_s >= 0


def test_documents_are_indexed_as_one_passage(tmp_path: Path, hashing: HashingEmbedder) -> None:
    index = ChromaIndex(hashing, path=tmp_path, collection="docs", show_progress=False)
    index.add([Document("d1", "Paris", "capital of France"), Document("d2", "", "Berlin Germany")])
    assert index.search(["paris"], k=1)[0][0][0] == "d1"
    with pytest.raises(ConfigError, match="appears twice"):
        index.add([Document("d1", "", "a"), Document("d1", "", "b")])


def test_another_embedder_is_refused(tmp_path: Path, hashing: HashingEmbedder) -> None:
    ChromaIndex(hashing, path=tmp_path, collection="space", show_progress=False).add(ANIMALS)
    with pytest.raises(IndexMismatchError, match=r"another embedder.*--rebuild"):
        ChromaIndex(HashingEmbedder(salt="other"), path=tmp_path, collection="space")
    with pytest.raises(IndexMismatchError, match="dimension 64"):
        ChromaIndex(HashingEmbedder(dim=32), path=tmp_path, collection="space")
    rebuilt = ChromaIndex(HashingEmbedder(dim=32), path=tmp_path, collection="space", rebuild=True)
    assert len(rebuilt) == 0
    with pytest.raises(IndexMismatchError):  # the rebuilt collection is the new embedder's
        ChromaIndex(HashingEmbedder(), path=tmp_path, collection="space")


def test_same_embedder_reopens_the_index(tmp_path: Path, hashing: HashingEmbedder) -> None:
    ChromaIndex(hashing, path=tmp_path, collection="keep", show_progress=False).add(ANIMALS)
    reopened = ChromaIndex(HashingEmbedder(), path=tmp_path, collection="keep")
    assert len(reopened) == 5
    assert embedder_fingerprint(HashingEmbedder()) == reopened.fingerprint


def test_incremental_reindex_embeds_only_changes(tmp_path: Path, hashing: HashingEmbedder) -> None:
    counting = CountingEmbedder(hashing)
    index = ChromaIndex(counting, path=tmp_path, collection="inc", show_progress=False)
    index.add(corpus(20), batch_size=8)
    assert len(counting.texts) == 20
    counting.texts.clear()
    changed = corpus(20)
    changed[3] = Passage("p3", "p3", "an entirely new text about volcanoes")
    changed = [*changed[:18], Passage("p99", "p99", "brand new passage")]
    stats = index.add(changed, sync=True, batch_size=8)
    assert sorted(counting.texts) == sorted(
        ["an entirely new text about volcanoes", "brand new passage"]
    )
    assert (stats.embedded, stats.unchanged, stats.deleted) == (2, 17, 2)
    assert len(index) == 19
    assert index.search(["volcanoes"], k=1)[0][0][0] == "p3"
    assert "p19" not in {d for d, _ in index.search(["passage number 19 word19"], k=19)[0]}


def test_killed_run_resumes_where_it_stopped(tmp_path: Path, hashing: HashingEmbedder) -> None:
    dying = CountingEmbedder(hashing, fail_after_batches=2)
    index = ChromaIndex(dying, path=tmp_path, collection="resume", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        index.add(corpus(30), batch_size=10)
    counting = CountingEmbedder(HashingEmbedder())
    resumed = ChromaIndex(counting, path=tmp_path, collection="resume", show_progress=False)
    assert len(resumed) == 20  # the two finished batches were kept
    stats = resumed.add(corpus(30), batch_size=10)
    assert len(counting.texts) == 10 and stats.unchanged == 20
    assert len(resumed) == 30


def test_bad_arguments(tmp_path: Path, hashing: HashingEmbedder) -> None:
    with pytest.raises(ConfigError, match="not valid for Chroma"):
        ChromaIndex(hashing, path=tmp_path, collection="a b")
    with pytest.raises(ConfigError, match="port was given without host"):
        ChromaIndex(hashing, path=tmp_path, collection="abc", port=8000)
    index = ChromaIndex(hashing, path=tmp_path, collection="empty", show_progress=False)
    assert index.search(["anything"], k=3) == [[]]
    with pytest.raises(ConfigError, match="k must be >= 1"):
        index.search(["x"], k=0)


def test_tiny_sentence_transformer(tmp_path: Path) -> None:
    tiny = pytest.importorskip("ragdistill.testing.tiny")
    hf = pytest.importorskip("ragdistill.stages.embedder.components")
    model = tiny.tiny_sentence_transformer(tmp_path / "tiny")
    embedder = hf.SentenceTransformerEmbedder(str(model))
    index = ChromaIndex(embedder, path=tmp_path / "db", collection="tiny", show_progress=False)
    index.add(ANIMALS)
    results = index.search(["cats purr and chase mice"], k=3)[0]
    assert results[0][0] == "cat" and results[0][1] == pytest.approx(1.0, abs=1e-4)
    other = tiny.tiny_sentence_transformer(tmp_path / "tiny16", dim_out=16)
    with pytest.raises(IndexMismatchError):
        ChromaIndex(
            hf.SentenceTransformerEmbedder(str(other)), path=tmp_path / "db", collection="tiny"
        )
