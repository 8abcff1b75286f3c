"""RetrievalDataset, chunking and the DatasetLoader base."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from ragdistill.datasets import (
    DatasetLoader,
    Document,
    Passage,
    RetrievalDataset,
    chunk_text,
)
from ragdistill.errors import ConfigError


def make(**kwargs: object) -> RetrievalDataset:
    corpus = {
        "d1": Document("d1", "Paris", "Paris is the capital of France."),
        "d2": Document("d2", "", "Berlin is the capital of Germany."),
        "d3": Document("d3", "Rome", "Rome is the capital of Italy."),
    }
    base = {
        "name": "toy",
        "corpus": corpus,
        "queries": {"q1": "capital of France", "q2": "capital of Italy", "q3": "unjudged"},
        "qrels": {"q1": {"d1": 1}, "q2": {"d3": 2, "d2": 0}},
        "chunk_size": None,
    }
    base.update(kwargs)
    return RetrievalDataset(**base)  # type: ignore[arg-type]


def test_fingerprint_is_stable_and_content_sensitive() -> None:
    a, b = make(), make()
    assert a.fingerprint() == b.fingerprint()
    assert len(a.fingerprint()) == 64
    assert make(name="other").fingerprint() == a.fingerprint()  # content, not name
    changed = make(queries={"q1": "capital of France?", "q2": "capital of Italy", "q3": "x"})
    assert changed.fingerprint() != a.fingerprint()
    assert make(qrels={"q1": {"d1": 2}}).fingerprint() != a.fingerprint()
    assert a.with_chunking(200, 20).fingerprint() != a.fingerprint()


def test_qrels_must_name_known_queries_and_documents() -> None:
    with pytest.raises(ConfigError, match="query 'qx'"):
        make(qrels={"qx": {"d1": 1}})
    with pytest.raises(ConfigError, match=r"not in the corpus.*nope"):
        make(qrels={"q1": {"nope": 1}})
    with pytest.raises(ConfigError, match="corpus key 'd9'"):
        make(corpus={"d9": Document("d1", "", "x")}, qrels={})


def test_evaluable_queries_skip_unjudged_and_zero_grades() -> None:
    ds = make(qrels={"q1": {"d1": 1}, "q2": {"d2": 0}})
    assert ds.evaluable_query_ids() == ["q1"]
    assert ds.has_qrels
    assert not make(qrels={}).has_qrels


def test_passages_keep_doc_ids_and_titles() -> None:
    ds = make()
    passages = ds.passages()
    assert passages[0] == Passage("d1", "d1", "Paris\nParis is the capital of France.")
    assert passages[1].text == "Berlin is the capital of Germany."
    long = make(corpus={"d1": Document("d1", "T", "\n\n".join(["word " * 30] * 4))}, qrels={})
    chunks = long.with_chunking(200, 20).passages()
    assert [p.id for p in chunks] == [f"d1#{i}" for i in range(len(chunks))]
    assert len(chunks) > 1
    assert all(p.doc_id == "d1" and p.text.startswith("T\n") for p in chunks)


def test_texts_for_distillation_dedupes_and_samples_deterministically() -> None:
    ds = make(queries={"q1": "capital of France", "q2": "capital of France", "q3": "z"}, qrels={})
    texts = ds.texts_for_distillation()
    assert len(texts) == len(set(texts)) == 5  # 3 passages + 2 distinct queries
    sample = ds.texts_for_distillation(max_texts=3, seed=1)
    assert sample == ds.texts_for_distillation(max_texts=3, seed=1)
    assert len(sample) == 3 and set(sample) <= set(texts)
    assert [t for t in texts if t in sample] == sample  # original order kept


def test_subset_keeps_judged_documents() -> None:
    ds = make()
    small = ds.subset(max_queries=1, max_corpus=2)
    assert list(small.queries) == ["q1"]
    assert "d1" in small.corpus and len(small.corpus) == 2
    assert small.qrels == {"q1": {"d1": 1}}
    two = ds.subset(query_ids=["q2"], max_corpus=1)
    assert set(two.corpus) == {"d2", "d3"}  # both judged (grade 0 too): never dropped
    assert ds.subset(max_queries=2, seed=3).queries == ds.subset(max_queries=2, seed=3).queries
    with pytest.raises(ConfigError, match="no queries qz"):
        ds.subset(query_ids=["qz"])


def test_chunk_text_packs_paragraphs_and_splits_long_ones() -> None:
    text = "alpha beta.\n\ngamma delta.\n\n" + "x" * 10 + " " + "long " * 40
    chunks = chunk_text(text, 64, 16)
    assert chunks[0] == "alpha beta.\n\ngamma delta."
    assert all(len(c) <= 64 for c in chunks)
    rejoined = " ".join(chunks)
    assert rejoined.count("long") >= 40  # nothing lost, overlap may repeat words
    assert chunk_text("short", 64) == ["short"]
    assert chunk_text("", 64) == [""]
    with pytest.raises(ConfigError, match="chunk_overlap"):
        chunk_text("x", 64, 40)
    with pytest.raises(ConfigError, match="chunk_size"):
        chunk_text("x", 8)


def test_overlapping_windows_share_text() -> None:
    words = " ".join(f"w{i}" for i in range(200))
    chunks = chunk_text(words, 100, 30)
    for left, right in itertools.pairwise(chunks):
        assert left.split()[-1] in right.split()[:10]


class FolderLoader(DatasetLoader):
    def __init__(self, path: Path, limit: int = 3) -> None:
        self.path = path
        self.limit = limit

    def load(self) -> RetrievalDataset:
        return make()


def test_loader_options_are_validated() -> None:
    loader = FolderLoader.from_options({"path": "/tmp", "limit": "5"})
    assert loader.limit == 5 and isinstance(loader.path, Path)
    assert loader.describe()["options"] == {"path": "/tmp", "limit": "5"}
    with pytest.raises(ConfigError, match=r"data\.limt: unknown key; did you mean 'limit'"):
        FolderLoader.from_options({"path": "/tmp", "limt": 5})
    with pytest.raises(TypeError):
        DatasetLoader()  # type: ignore[abstract]
