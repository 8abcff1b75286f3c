"""Reranker students: scores [B, K], save in a plain format, load back with equal scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ragdistill.errors import ConfigError

BATCH = [
    ("fee refund", ["a fee refund rule", "mobile app password", "wire transfer limit"]),
    ("card fraud", ["card fraud dispute", "savings interest rate", "branch hours"]),
]


def _scores(model, batch=BATCH) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model(batch).numpy()


def test_cross_encoder_student_saves_a_plain_sequence_classifier(tiny_st_path, tmp_path):
    from sentence_transformers import CrossEncoder

    from ragdistill.stages.reranker.components import CrossEncoderReranker
    from ragdistill.stages.reranker.students import CrossEncoderStudent

    model = CrossEncoderStudent(str(tiny_st_path), keep_layers=[1], max_length=64).build()
    scores = _scores(model)
    assert scores.shape == (2, 3)
    model.save_artifact(tmp_path / "ce")
    config = json.loads((tmp_path / "ce" / "config.json").read_text())
    assert config["num_hidden_layers"] == 1 and len(config["id2label"]) == 1
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert not list((tmp_path / "ce").glob("*.bin"))
    reranker = CrossEncoderReranker(str(tmp_path / "ce"), max_length=64)
    for (query, docs), row in zip(BATCH, scores):
        np.testing.assert_allclose(reranker.score(query, docs), row, atol=1e-5)
        plain = CrossEncoder(str(tmp_path / "ce"), device="cpu", max_length=64)
        got = plain.predict([(query, d) for d in docs], activation_fn=torch.nn.Identity())
        np.testing.assert_allclose(got, row, atol=1e-5)


def test_bi_encoder_student_loads_back_as_the_bi_encoder_reranker(tiny_st_path, tmp_path):
    from ragdistill.stages.reranker.components import BiEncoderReranker
    from ragdistill.stages.reranker.students import BiEncoderStudent

    model = BiEncoderStudent(str(tiny_st_path), keep_layers=[0], scale=5.0).build()
    scores = _scores(model)
    model.save_artifact(tmp_path / "bi")
    reranker = BiEncoderReranker(str(tmp_path / "bi"))
    for (query, docs), row in zip(BATCH, scores):
        np.testing.assert_allclose(5.0 * reranker.score(query, docs), row, atol=1e-4)


def test_colbert_student_loads_back_as_the_colbert_reranker(tiny_st_path, tmp_path):
    from ragdistill.stages.reranker.colbert import ColBERTReranker
    from ragdistill.stages.reranker.students import ColBERTStudent

    model = ColBERTStudent(str(tiny_st_path), dim=None, max_query_length=16).build()
    linear = model.colbert.linear.weight
    assert torch.equal(linear, torch.eye(linear.shape[0]))  # dim=None: identity start
    scores = _scores(model)
    model.save_artifact(tmp_path / "colbert")
    reranker = ColBERTReranker(str(tmp_path / "colbert"))
    for (query, docs), row in zip(BATCH, scores):
        tokens = len(model.colbert.tokenizer(query, truncation=True, max_length=16)["input_ids"])
        np.testing.assert_allclose(reranker.score(query, docs) / tokens, row, atol=2e-3)


def test_maxsim_matches_a_hand_computed_example():
    from ragdistill.stages.reranker._colbert_model import maxsim

    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]])  # last token is padding
    d = torch.tensor([[[[1.0, 0.0], [0.6, 0.8], [-5.0, 5.0]]]])  # last token is padding
    score = maxsim(q, torch.tensor([[True, True, False]]), d, torch.tensor([[[True, True, False]]]))
    assert score.shape == (1, 1)
    assert score.item() == pytest.approx(1.0 + 0.8)


def test_a_student_learns_fixed_teacher_scores(tiny_st_path):
    from ragdistill.stages.reranker.losses.margin_mse import MarginMSELoss
    from ragdistill.stages.reranker.students import CrossEncoderStudent

    torch.manual_seed(0)
    model = CrossEncoderStudent(str(tiny_st_path), max_length=32).build()
    target = torch.tensor([[2.0, -1.0, 0.5], [1.5, 0.0, -2.0]])
    loss_fn = MarginMSELoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = loss_fn(model(BATCH), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


def test_in_batch_negatives_widen_every_list(tiny_st_path):
    from ragdistill.stages.reranker.student_models import InBatchNegatives
    from ragdistill.stages.reranker.students import CrossEncoderStudent

    model = InBatchNegatives(CrossEncoderStudent(str(tiny_st_path)).build(), 1)
    with torch.no_grad():
        assert model(BATCH).shape == (2, 4)


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        ("CrossEncoderStudent", {"keep_layers": [2, 1]}, "distinct ascending"),
        ("CrossEncoderStudent", {"max_length": 4}, "max_length must be >= 8"),
        ("BiEncoderStudent", {"scale": 0.0}, "scale must be > 0"),
        ("ColBERTStudent", {"dim": 0}, "dim must be >= 1"),
        ("ColBERTStudent", {"freeze_layers": -1}, "freeze_layers must be >= 0"),
    ],
)
def test_student_options_are_checked(cls, kwargs, match):
    from ragdistill.stages.reranker import students as rerankers

    with pytest.raises(ConfigError, match=match):
        getattr(rerankers, cls)("m", **kwargs)


def test_pruning_names_a_missing_layer(tiny_st_path):
    from ragdistill.stages.reranker.students import CrossEncoderStudent

    with pytest.raises(ConfigError, match="refers to layer 5"):
        CrossEncoderStudent(str(tiny_st_path), keep_layers=[5]).build()


def test_encoder_dir_reads_a_sentence_transformer_layout(tiny_st_path: Path, tmp_path):
    from ragdistill.stages.reranker.students import encoder_dir

    assert encoder_dir(str(tiny_st_path)) == tiny_st_path
    with pytest.raises(ConfigError, match=r"has no config\.json"):
        encoder_dir(str(tmp_path))


def test_freeze_layers_stops_training_the_bottom(tiny_st_path):
    from ragdistill.stages.reranker.students import ColBERTStudent, CrossEncoderStudent

    model = CrossEncoderStudent(str(tiny_st_path), freeze_layers=1).build()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any("embeddings" in n or "layer.0." in n for n in trainable)
    assert any("layer.1." in n for n in trainable) and any("classifier" in n for n in trainable)
    with pytest.raises(ConfigError, match="freeze at most 2"):
        ColBERTStudent(str(tiny_st_path), dim=16, freeze_layers=3).build()


def test_a_seeded_colbert_projection_is_the_same_every_build(tiny_st_path):
    """The narrowing projection starts from the recipe's seed, whatever ran before."""
    from ragdistill.stages.reranker.students import ColBERTStudent
    from ragdistill.students.seeding import seeded_init

    def projection(seed: int) -> torch.Tensor:
        torch.rand(7)  # other work moves the global generator between builds
        with seeded_init(seed):
            model = ColBERTStudent(str(tiny_st_path), dim=16).build()
        weights = [p for p in model.parameters() if p.ndim == 2 and p.shape[0] == 16]
        return weights[-1].detach().clone()

    first, again, other = projection(42), projection(42), projection(7)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
