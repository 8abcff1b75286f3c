"""The benchmarks' peer arm: the recipe's student trained by sentence-transformers' own
distillation recipe (PCA-reduced teacher targets, MSELoss, SentenceTransformerTrainer)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragdistill.recipes import Recipe, load_recipe
from tests.core.tiny_beir import tiny_recipe, write_tiny_beir

# SentenceTransformerTrainer needs `datasets` (sentence-transformers' [train] extra).
pytest.importorskip("datasets")
pytest.importorskip("sentence_transformers")

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import peer_st  # noqa: E402


def _recipe(tmp_path: Path, teacher: Path, student: Path, *, student_extra: str = "") -> Recipe:
    path = tiny_recipe(tmp_path, str(teacher), str(student), write_tiny_beir(tmp_path / "data"))
    # Fewer checkpoints than the pipeline tests write: each is a full model and optimizer.
    text = path.read_text().replace("checkpoint_every = 3", "checkpoint_every = 10")
    path.write_text(text.replace("projection_dim = 16\n", f"projection_dim = 16\n{student_extra}"))
    return load_recipe(path)


def _label_as_ragdistill(recipe: Recipe) -> int:
    """Fill the teacher cache as ``distill_embedder`` does; returns the texts computed."""
    from peer_st import training_plan

    from ragdistill.distill.accelerated import Processes
    from ragdistill.stages.embedder.pipeline import label_shares

    plan, cached = training_plan(recipe)
    stats = label_shares(cached, plan, Processes(), show_progress=False)
    return sum(kind["computed"] for kind in stats.values())


def _training_targets(
    recipe: Recipe, components: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The training texts and their PCA-reduced teacher vectors, read from the cache."""
    from peer_st import training_plan

    from ragdistill.teacher_cache import embedding_keys

    plan, cached = training_plan(recipe)
    keys = [k for t, kind in zip(plan.texts, plan.types) for k in embedding_keys([t], kind)]
    vectors = cached.cache.get(keys)
    return plan.texts, vectors, vectors @ components.T


def _untrained_student(recipe: Recipe) -> Any:
    """The recipe's student as ragdistill builds it, before any training."""
    from ragdistill.config import build
    from ragdistill.registry import default_registry
    from ragdistill.students.seeding import seeded_init

    student = build(
        default_registry().student("embedder", recipe.student.kind),
        recipe.student.options,
        "student",
    )
    with seeded_init(recipe.train.seed):
        return student.build().st


def test_peer_trains_the_recipe_student_by_sentence_transformers_recipe(
    tmp_path: Path, tiny_st_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentence_transformers import SentenceTransformer

    from ragdistill.loading import load_arm
    from ragdistill.testing.tiny import tiny_sentence_transformer

    # A teacher wider than the student's 16-d projection, so PCA reduces it (48 -> 16).
    teacher = tiny_sentence_transformer(tmp_path / "teacher", layers=1, hidden=48)
    recipe = _recipe(tmp_path, teacher, tiny_st_path)
    assert _label_as_ragdistill(recipe) > 0  # ragdistill labelled the texts first

    out = tmp_path / "peer"
    folder = peer_st.train_peer(recipe, out, show_progress=False)
    record = json.loads((out / "peer.json").read_text())
    assert folder == out / "model" and record["finished"]
    # Every teacher vector came from the cache ragdistill filled.
    assert all(kind["computed"] == 0 for kind in record["labelling"].values())
    assert (record["teacher_dim"], record["student_dim"]) == (48, 16)
    assert 0 < record["pca_explained_variance"] <= 1
    assert record["steps"] == record["planned_steps"] > 0
    assert record["versions"]["sentence-transformers"]

    # The targets are the teacher vectors through the PCA components, as the example's
    # bias-free Dense layer on the teacher computes them.
    with np.load(out / "pca.npz") as saved:
        components = saved["components"]
    assert components.shape == (16, 48)
    np.testing.assert_allclose(components @ components.T, np.eye(16), atol=1e-4)
    texts, vectors, targets = _training_targets(recipe, components)
    assert record["texts"] == len(texts)
    # Fitted on the teacher vectors of the training texts: the top-16 principal subspace.
    _, _, vt = np.linalg.svd(vectors - vectors.mean(axis=0), full_matrices=False)
    np.testing.assert_allclose(components.T @ components, vt[:16].T @ vt[:16], atol=1e-3)

    trained = SentenceTransformer(str(folder), device="cpu")
    after = trained.encode(texts, convert_to_numpy=True)
    before = _untrained_student(recipe).encode(texts, convert_to_numpy=True)
    assert after.shape == (len(texts), 16)
    mse_before = float(np.mean((before - targets) ** 2))
    mse_after = float(np.mean((after - targets) ** 2))
    assert mse_after < 0.5 * mse_before, (mse_before, mse_after)

    arm = load_arm(str(folder), stage="embedder")
    vecs = arm.embed_many(texts[:3], input_type="query")
    assert np.asarray(vecs).shape == (3, 16)
    # The runtime returns unit vectors; the directions are the trained model's.
    unit = after[:3] / np.linalg.norm(after[:3], axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(vecs), unit, atol=1e-4)

    # A finished peer of the same recipe is returned without training.
    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished peer was trained again")

    text = (out / "peer.json").read_text()
    with monkeypatch.context() as patch:
        patch.setattr(peer_st, "_fit", no_training)
        assert peer_st.train_peer(recipe, out, show_progress=False) == folder
    assert (out / "peer.json").read_text() == text


def test_peer_resumes_from_its_last_checkpoint(tmp_path: Path, tiny_st_path: Path) -> None:
    from ragdistill.testing.tiny import tiny_sentence_transformer

    teacher = tiny_sentence_transformer(tmp_path / "teacher", layers=1, hidden=48)
    recipe = _recipe(tmp_path, teacher, tiny_st_path)
    out = tmp_path / "peer"
    peer_st.train_peer(recipe, out, show_progress=False)
    first = json.loads((out / "peer.json").read_text())
    assert first["resumed_from"] is None
    assert first["labelling"]["document"]["computed"] > 0  # nothing was cached before

    # As if killed after the last checkpoint, before the model was saved.
    (out / "model" / "modules.json").unlink()
    (out / "peer.json").write_text(json.dumps({**first, "finished": False}))
    peer_st.train_peer(recipe, out, show_progress=False)
    again = json.loads((out / "peer.json").read_text())
    assert again["finished"] and (out / "model" / "modules.json").is_file()
    assert again["resumed_from"] == f"checkpoint-{first['steps']}"
    assert again["steps"] == first["steps"]
    assert again["seconds"] >= first["seconds"] - 0.1  # the earlier training time counts
    assert all(kind["computed"] == 0 for kind in again["labelling"].values())


def test_peer_trains_on_train_max_seq_length_tokens(
    tmp_path: Path, tiny_st_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentence_transformers import SentenceTransformer

    from ragdistill.testing.tiny import tiny_sentence_transformer

    teacher = tiny_sentence_transformer(tmp_path / "teacher", layers=1, hidden=48)
    recipe = _recipe(tmp_path, teacher, tiny_st_path, student_extra="train_max_seq_length = 8\n")
    try:
        from sentence_transformers.sentence_transformer.losses import MSELoss
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.losses import MSELoss
    widths: list[int] = []
    forward = MSELoss.forward

    def watched(self: Any, features: Any, labels: Any) -> Any:
        widths.append(int(features[0]["input_ids"].shape[1]))  # what a training batch holds
        return forward(self, features, labels)

    with monkeypatch.context() as patch:
        patch.setattr(MSELoss, "forward", watched)
        folder = peer_st.train_peer(recipe, tmp_path / "peer", show_progress=False)
    record = json.loads((tmp_path / "peer" / "peer.json").read_text())
    assert record["train_max_seq_length"] == 8
    assert widths and max(widths) == 8  # the 25-word passages were cut to 8 tokens
    # The saved model reads its full length when it runs.
    full = _untrained_student(recipe).max_seq_length
    assert SentenceTransformer(str(folder), device="cpu").max_seq_length == full > 8


def test_peer_of_another_recipe_is_refused(tmp_path: Path, tiny_st_path: Path) -> None:
    teacher = tmp_path / "teacher"
    recipe = _recipe(tmp_path, teacher, tiny_st_path)
    out = tmp_path / "peer"
    out.mkdir()
    (out / "peer.json").write_text(json.dumps({"fingerprint": "other", "finished": True}))
    with pytest.raises(ValueError, match="another recipe"):
        peer_st.train_peer(recipe, out, show_progress=False)
