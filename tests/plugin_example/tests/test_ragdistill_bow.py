"""ragdistill-bow's own tests; run them with the plugin installed (`pip install -e .`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from ragdistill_bow.embedders import HashedNgramEmbedder
from ragdistill_bow.faq import FaqDataset
from ragdistill_bow.training import BagOfWordsStudent, relational_mse

from ragdistill.cli import build_cli
from ragdistill.errors import ConfigError
from ragdistill.loading import load_component
from ragdistill.registry import default_registry
from ragdistill.testing.contracts import EmbedderContract
from ragdistill.testing.tiny import tiny_sentence_transformer


class TestTeacher(EmbedderContract):
    normalized = True

    @pytest.fixture(scope="class")
    def component(self):
        return HashedNgramEmbedder(width=256)


class TestSavedStudent(EmbedderContract):
    normalized = True

    @pytest.fixture(scope="class")
    def component(self, tmp_path_factory):
        folder = tmp_path_factory.mktemp("student")
        BagOfWordsStudent(buckets=512, dimension=16).build().save_artifact(folder)
        return load_component(folder, "embedder")  # found by folder_match: no manifest


def test_every_kind_is_registered():
    registry = default_registry()
    assert registry.teacher("embedder", "hashed-ngrams") is HashedNgramEmbedder
    assert registry.student("embedder", "bag-of-words") is BagOfWordsStudent
    assert registry.loss("relational-mse").stage == "embedder"
    assert registry.dataset("faq") is FaqDataset
    assert registry.runtime("audited").__name__ == "AuditedRuntime"
    assert "nearest" in CliRunner().invoke(build_cli(), ["--help"]).output


def test_the_artifact_embeds_as_the_trained_model_did(tmp_path):
    model = BagOfWordsStudent(buckets=512, dimension=16).build()
    model.save_artifact(tmp_path)
    texts = ["how do I reset my card pin", "", "fees"]
    with torch.no_grad():
        trained = model(texts).numpy()
    np.testing.assert_allclose(load_component(tmp_path).embed_many(texts), trained, atol=1e-6)


def test_the_loss_is_zero_for_the_teacher_itself_and_checks_its_options():
    teacher = torch.randn(6, 32)
    assert relational_mse(teacher, teacher).item() == pytest.approx(0.0, abs=1e-6)
    assert relational_mse(torch.randn(6, 8), teacher).item() > 0  # widths may differ
    with pytest.raises(ConfigError, match="scale: must be > 0"):
        default_registry().loss("relational-mse")(scale=0)


def test_the_dataset_judges_each_question_against_its_answer(tmp_path):
    (tmp_path / "faq.tsv").write_text("how do I pay?\tBy card.\n\nwhen?\tMondays.\n")
    data = FaqDataset(path=tmp_path / "faq.tsv").load()
    assert data.queries == {"q1": "how do I pay?", "q3": "when?"}
    assert data.qrels == {"q1": {"a1": 1}, "q3": {"a3": 1}}
    (tmp_path / "faq.tsv").write_text("a question without an answer\n")
    with pytest.raises(ConfigError, match=r"faq.tsv:1: write question<TAB>answer"):
        FaqDataset(path=tmp_path / "faq.tsv").load()


def test_the_runtime_records_what_it_loads(tmp_path):
    model = tiny_sentence_transformer(tmp_path / "tiny")  # a real model, built offline
    log = tmp_path / "audit.jsonl"
    embedder = load_component(model, "embedder", runtime="audited", runtime_options={"log": log})
    assert embedder.embed("a question").shape == (embedder.dimension,)
    [record] = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["stage"] == "embedder" and record["loader"] == "sentence-transformers"
