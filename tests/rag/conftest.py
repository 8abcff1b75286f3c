"""A tiny question-answering set and a two-arm spec of tiny real models (no hub)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ragdistill.datasets import Document, RetrievalDataset

FACTS = [
    ("France", "Paris is the capital of France and its largest city.", "What is the capital of France?", "Paris"),
    ("Rhine", "The Rhine flows from the Swiss Alps to the North Sea.", "Where does the Rhine flow to?", "the North Sea"),
    ("Distillation", "Knowledge distillation trains a small student to imitate a teacher.", "What does distillation train?", "a small student"),
    ("Chroma", "Chroma is an open-source vector database for embeddings.", "What is Chroma?", "a vector database"),
    ("Quantization", "Quantization stores weights in fewer bits to save memory.", "What does quantization save?", "memory"),
    ("Everest", "Mount Everest is the highest mountain above sea level.", "Which mountain is the highest?", "Mount Everest"),
]  # fmt: skip


@pytest.fixture(scope="session")
def qa_dataset() -> RetrievalDataset:
    corpus = {f"d{i}": Document(f"d{i}", t, text) for i, (t, text, _, _) in enumerate(FACTS)}
    queries = {f"q{i}": q for i, (_, _, q, _) in enumerate(FACTS)}
    return RetrievalDataset(
        name="tiny-qa",
        corpus=corpus,
        queries=queries,
        qrels={f"q{i}": {f"d{i}": 1} for i in range(len(FACTS))},
        chunk_size=None,
        answers={f"q{i}": [a] for i, (_, _, _, a) in enumerate(FACTS)},
        sources={f"q{i}": [f"d{i}"] for i in range(len(FACTS))},
    )


@pytest.fixture(scope="session")
def two_arm_spec(
    tiny_st_path: Path, tiny_cross_encoder_path: Path, tiny_causal_lm_path: Path
) -> dict[str, Any]:
    """A "teacher" arm (embedder, cross-encoder reranker, causal LM) and a "student" arm
    without the reranker and with a shorter answer budget (a different generator)."""
    return {
        "name": "tiny",
        "k": 4,
        "contexts": 2,
        "max_new_tokens": 6,
        "ablate": True,
        "cost": {"hardware_per_hour": 3.6},
        "arms": {
            "teacher": {
                "embedder": {"artifact": str(tiny_st_path)},
                "reranker": {"artifact": str(tiny_cross_encoder_path)},
                "generator": {"artifact": str(tiny_causal_lm_path)},
            },
            "student": {
                "embedder": {"artifact": str(tiny_st_path)},
                "generator": {"artifact": str(tiny_causal_lm_path), "batch_size": 2},
            },
        },
    }
