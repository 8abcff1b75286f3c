"""Session-wide fixtures: tiny random-weight models, built once per test session.

Tests never reach a model hub; every model they load is built here from a config by
:mod:`ragdistill.testing.tiny`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Set before huggingface_hub is imported anywhere: it reads these once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models gain nothing from intra-op threads, and on a shared machine spinning
# worker threads made each matmul ~10x slower. Read by torch when it is first imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _teacher_cache_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Teacher outputs of tests that name no ``cache_dir`` go to a folder of this session,
    never to the user's own teacher cache (which holds real labelling work)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAGDISTILL_TEACHER_CACHE", str(tmp_path_factory.mktemp("teacher-cache")))
        yield


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def tiny_st_path(tiny_models_dir: Path) -> Path:
    """A SentenceTransformer folder: 2-layer BERT, hidden 32, mean pooling."""
    from ragdistill.testing.tiny import tiny_sentence_transformer

    return tiny_sentence_transformer(tiny_models_dir / "sentence-transformer")


@pytest.fixture(scope="session")
def tiny_cross_encoder_path(tiny_models_dir: Path) -> Path:
    """A one-label BertForSequenceClassification folder."""
    from ragdistill.testing.tiny import tiny_cross_encoder

    return tiny_cross_encoder(tiny_models_dir / "cross-encoder")


@pytest.fixture(scope="session")
def tiny_causal_lm_path(tiny_models_dir: Path) -> Path:
    """A tiny Llama causal LM whose tokenizer has a chat template."""
    from ragdistill.testing.tiny import tiny_causal_lm

    return tiny_causal_lm(tiny_models_dir / "causal-lm")


@pytest.fixture(scope="session")
def tiny_seq2seq_path(tiny_models_dir: Path) -> Path:
    """A tiny T5ForConditionalGeneration folder."""
    from ragdistill.testing.tiny import tiny_seq2seq

    return tiny_seq2seq(tiny_models_dir / "seq2seq")
