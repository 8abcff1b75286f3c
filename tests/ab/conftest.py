"""Fixtures of the A/B tests."""

from __future__ import annotations

import pytest
from ab_fixtures import TOPICS

from ragdistill.datasets import Document, RetrievalDataset


@pytest.fixture
def judged() -> RetrievalDataset:
    corpus = {}
    for i, topic in enumerate(TOPICS):
        corpus[f"d{i}"] = Document(
            f"d{i}", topic.split()[0], f"All about {topic} and more {topic}."
        )
        corpus[f"n{i}"] = Document(f"n{i}", "", f"Unrelated note number {i} on office supplies.")
    queries = {f"q{i}": f"tell me about {topic}" for i, topic in enumerate(TOPICS)}
    qrels = {f"q{i}": {f"d{i}": 2} for i in range(len(TOPICS))}
    return RetrievalDataset("made-up", corpus, queries, qrels, chunk_size=None)
