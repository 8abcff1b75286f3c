"""The ensemble embedder teacher: its vectors, its configuration errors, its cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragdistill.distill.cached_teacher import CachedEmbedder
from ragdistill.errors import ConfigError
from ragdistill.stages.embedder.components import SentenceTransformerEmbedder
from ragdistill.stages.embedder.ensemble import EnsembleEmbedder
from ragdistill.testing.contracts import EmbedderContract
from ragdistill.testing.tiny import tiny_sentence_transformer

TEXTS = ["a fee refund", "the card was blocked", "open a savings account", "rates rise"]


@pytest.fixture(scope="module")
def members(tiny_models_dir: Path, tiny_st_path: Path) -> list[dict]:
    other = tiny_sentence_transformer(tiny_models_dir / "ensemble-other", layers=1, hidden=16)
    return [
        {"kind": "sentence-transformers", "model": str(tiny_st_path), "batch_size": 4},
        {"kind": "sentence-transformers", "model": str(other), "batch_size": 8},
    ]


class TestEnsemble(EmbedderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, tiny_models_dir: Path, tiny_st_path: Path) -> EnsembleEmbedder:
        other = tiny_sentence_transformer(tiny_models_dir / "ensemble-other", layers=1, hidden=16)
        return EnsembleEmbedder(
            [{"kind": "sentence-transformers", "model": str(tiny_st_path)},
             {"kind": "sentence-transformers", "model": str(other)}], weights=[2.0, 1.0],
        )  # fmt: skip


def test_its_cosine_is_the_weighted_mean_of_the_members(members: list[dict]) -> None:
    ensemble = EnsembleEmbedder(members, weights=[3.0, 1.0])
    joined = ensemble.embed_many(TEXTS)
    assert joined.shape == (4, 32 + 16) and ensemble.dimension == 48
    assert np.allclose(np.linalg.norm(joined, axis=1), 1.0, atol=1e-5)
    cosines = []
    for spec in members:
        single = SentenceTransformerEmbedder(**{k: v for k, v in spec.items() if k != "kind"})
        vectors = single.embed_many(TEXTS)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        cosines.append(vectors @ vectors.T)
    assert np.allclose(joined @ joined.T, 0.75 * cosines[0] + 0.25 * cosines[1], atol=1e-5)
    assert ensemble.batch_size == 4
    assert ensemble.model_name.startswith("ensemble(") and len(ensemble.describe()["members"]) == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"members": []}, "at least one embedder table"),
        ({"weights": [1.0]}, "weights has 1 values for 2 members"),
        ({"weights": [1.0, -1.0]}, "finite and > 0"),
        ({"weights": [1.0, 0.0]}, "leave out a member"),
        ({"members": [{"model": "x"}]}, r"\[members\[0\]\] expected a table naming an embedder"),
        ({"members": [{"kind": "nope"}]}, r"\[members\[0\]\] kind"),
        ({"members": [{"kind": "ensemble", "members": []}]}, "cannot contain another ensemble"),
    ],
)
def test_bad_configuration_names_what_to_fix(
    members: list[dict], options: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        EnsembleEmbedder(**{"members": members, **options})


def test_each_member_is_cached_on_its_own(members: list[dict], tmp_path: Path) -> None:
    """A member labelled alone before (a single-teacher run) is not asked again."""
    from ragdistill.config import build
    from ragdistill.registry import default_registry

    # Built as a recipe's [teacher] table is, so it describes itself as the member does.
    kind = default_registry().teacher("embedder", "sentence-transformers")
    first = build(kind, {k: v for k, v in members[0].items() if k != "kind"}, "teacher")
    second = build(kind, {k: v for k, v in members[1].items() if k != "kind"}, "teacher")
    assert CachedEmbedder(first, root=tmp_path).fill(TEXTS[:2], "document").computed == 2
    assert CachedEmbedder(second, root=tmp_path).fill(TEXTS[2:], "document").computed == 2

    ensemble = EnsembleEmbedder(members)
    cached = CachedEmbedder(ensemble, root=tmp_path)
    keys = ["missing-key"]
    assert cached.cache.missing(keys) == keys
    # Every text lacked one member or the other: all four count as computed.
    stats = cached.fill(TEXTS, "document", show_progress=False)
    assert (stats.total, stats.computed, stats.reused) == (4, 4, 0)
    assert [m.cache.dim for m in cached.members] == [32, 16] and cached.dimension == 48
    assert cached.members[1].label == "member 2 of 2"
    # Each member computed only the texts it had never seen.
    for single in (first, second):
        assert CachedEmbedder(single, root=tmp_path).fill(TEXTS, "document").computed == 0
    assert cached.fill(TEXTS, "document").computed == 0
    from ragdistill.teacher_cache import embedding_keys

    stored = cached.cache.get(embedding_keys(TEXTS, "document"))
    assert np.allclose(stored, ensemble.embed_many(TEXTS), atol=1e-5)
    assert np.allclose(cached.embed_many(TEXTS), stored) and cached.reused == 4
    assert cached.describe() == ensemble.describe()


def test_a_recipe_distills_from_an_ensemble(tmp_path: Path, members: list[dict]) -> None:
    from ragdistill.artifacts import read_manifest
    from ragdistill.distill import run_recipe
    from ragdistill.recipes import load_recipe
    from tests.core.tiny_beir import tiny_recipe, write_tiny_beir

    write_tiny_beir(tmp_path / "beir")
    path = tiny_recipe(tmp_path, "unused", members[0]["model"], tmp_path / "beir",
                       extra="ab = false")  # fmt: skip
    table = (
        '[teacher]\nkind = "ensemble"\nweights = [1.0, 1.0]\nmembers = [\n'
        + "".join(
            f'  {{ kind = "sentence-transformers", model = "{m["model"]}" }},\n' for m in members
        )
        + "]\n"
    )
    text = path.read_text()
    start, end = text.index("[teacher]"), text.index("[student]")
    path.write_text(text[:start] + table + "\n" + text[end:])
    recipe = load_recipe(path)
    assert recipe.teacher.kind == "ensemble"
    manifest = read_manifest(run_recipe(recipe, show_progress=False))
    assert manifest["teacher"]["members"][1]["options"]["model"] == members[1]["model"]
    assert manifest["metrics"]["train/steps"] > 0


def test_members_batch_sizes_and_devices_are_not_its_identity(members: list[dict]) -> None:
    from ragdistill.index.fingerprint import embedder_fingerprint
    from ragdistill.teacher_cache import fingerprint

    resized = [{**m, "batch_size": 64, "device": "cpu"} for m in members]
    a, b = EnsembleEmbedder(members), EnsembleEmbedder(resized)
    assert a.describe() != b.describe()  # manifests still record how it ran...
    assert fingerprint(a.describe()) == fingerprint(b.describe())  # ...caches ignore it
    assert embedder_fingerprint(a) == embedder_fingerprint(b)
    reweighted = EnsembleEmbedder(members, weights=[2.0, 1.0])
    assert fingerprint(reweighted.describe()) != fingerprint(a.describe())
