"""Mining reranker training data, the recipe's [reranker.candidates] table, the A/B helpers."""

from __future__ import annotations

import hashlib
import json
import random
import textwrap
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from ragdistill.datasets import Document, Passage, RetrievalDataset
from ragdistill.errors import ConfigError
from ragdistill.recipes.schema import TrainSpec
from ragdistill.stages.reranker.mining import (
    mine_example,
    near_duplicate,
    plan_batches,
    training_queries,
    with_in_batch,
)


def _passages(texts: list[str]) -> list[Passage]:
    return [Passage(f"p{i}", f"d{i}", t) for i, t in enumerate(texts)]


def test_near_duplicates():
    a = Passage("a#0", "a", "the quick brown fox jumps")
    assert near_duplicate(a, Passage("a#1", "a", "other text"), 0.9)  # same document
    assert near_duplicate(a, Passage("b", "b", " the quick brown fox jumps "), 0.9)
    assert near_duplicate(a, Passage("c", "c", "The quick, brown fox jumps!"), 0.9)
    assert not near_duplicate(a, Passage("d", "d", "the quick brown cat sleeps"), 0.9)
    assert near_duplicate(a, Passage("d", "d", "the quick brown cat sleeps"), 0.4)


def test_mine_example_takes_the_teachers_best_and_negatives_from_the_window():
    ranked = _passages(["r1", "r2", "best one", "r4", "best one", "r6", "r7"])
    scores = np.array([0.5, 0.4, 0.9, 0.1, 0.8, 0.2, 0.3])
    ex = mine_example(
        "q", ranked, scores, window=(2, 6), negatives=10, dedup_threshold=0.9,
        rng=random.Random(0),
    )  # fmt: skip
    assert ex is not None and ex.docs[0] == "best one"
    # ranks 2..6 minus the positive (rank 3) and its duplicate (rank 5); rank 1 and 7 are out
    assert set(ex.docs[1 : ex.real]) == {"r2", "r4", "r6"} and ex.real == 4
    assert len(ex.docs) == 11 and set(ex.docs[4:]) <= {"r2", "r4", "r6"}  # padded by repeats
    few = mine_example(
        "q", ranked, scores, window=(2, 6), negatives=2, dedup_threshold=0.9,
        rng=random.Random(0),
    )  # fmt: skip
    assert few is not None and few.real == 3 and len(few.docs) == 3
    none = mine_example(
        "q", ranked[:3], scores[:3], window=(3, 3), negatives=2, dedup_threshold=0.9,
        rng=random.Random(0),
    )  # fmt: skip
    assert none is None  # the only candidate in the window is the positive


def test_with_in_batch_appends_other_positives():
    batch = [("q0", ["p0", "n0"]), ("q1", ["p1", "n1"]), ("q2", ["p2", "n2"])]
    assert with_in_batch(batch, 2) == [
        ("q0", ["p0", "n0", "p1", "p2"]),
        ("q1", ["p1", "n1", "p2", "p0"]),
        ("q2", ["p2", "n2", "p0", "p1"]),
    ]


class Recorder(torch.nn.Module):
    """A real (one-weight) reranker student that records the batches it is given."""

    output_dim = 1

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.seen: list[list[int]] = []

    def forward(self, batch):
        self.seen.append([int(q.split(":")[0]) for q, _ in batch])
        return self.w * torch.tensor([[float(len(d)) for d in docs] for _, docs in batch])


@pytest.mark.parametrize("grouped", [False, True])
def test_plan_batches_matches_what_the_loop_trains_on(tmp_path, grouped):
    from ragdistill.distill.loop import train
    from ragdistill.losses.compose import WeightedLoss
    from ragdistill.stages.reranker.losses.listwise_kl import ListwiseKLLoss

    spec = TrainSpec(
        epochs=3, batch_size=4, max_steps=7, checkpoint_every=100, group_by_length=grouped
    )
    inputs = [(f"{i}:" + "q" * (i * 7 % 10), ["a", "bb"]) for i in range(10)]
    model = Recorder()
    masks = []

    def teacher(idx):
        mask = torch.tensor([[True, i % 2 == 0] for i in idx])
        masks.append(mask)
        return torch.zeros(len(idx), 2), {"mask": mask}

    loss = WeightedLoss([(1.0, ListwiseKLLoss())])
    train(model, loss, inputs, teacher, spec, output=tmp_path, fingerprint="x", show_progress=False)
    assert model.seen == plan_batches(inputs, spec)
    assert len(masks) == 7


def test_training_queries_hold_out_judged_queries_and_add_titles():
    corpus = {f"d{i}": Document(f"d{i}", f"title {i}", "text") for i in range(3)}
    queries = {"q0": "judged one", "q1": "free one", "q2": "title 1"}
    data = RetrievalDataset("t", corpus, queries, {"q0": {"d0": 1}, "q2": {"d1": 1}})
    assert training_queries(data, max_queries=None, seed=0) == ["free one", "title 0", "title 2"]
    assert len(training_queries(data, max_queries=2, seed=0)) == 2


def test_kendall_tau_matches_scipy():
    kendalltau = pytest.importorskip("scipy.stats").kendalltau

    from ragdistill.stages.reranker.ab import kendall_tau

    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = rng.integers(0, 5, 12).astype(float), rng.normal(size=12)
        assert kendall_tau(a, b) == pytest.approx(kendalltau(a, b).statistic)
    assert kendall_tau([1, 1, 1], [1, 2, 3]) == 0.0


def test_doc_ranking_scores_a_document_by_its_best_passage():
    from ragdistill.stages.reranker.ab import doc_ranking

    ps = [Passage("a#0", "a", ""), Passage("b", "b", ""), Passage("a#1", "a", "")]
    assert doc_ranking(ps, [0.1, 0.5, 0.9]) == ["a", "b"]


RERANKER_RECIPE = """
stage = "{stage}"
name = "r"
output = "out"
[teacher]
kind = "{teacher}"
model = "m"
[student]
kind = "{student}"
model = "m"
[[losses]]
name = "{loss}"
{extra}
"""


def _parse(**kw):
    from ragdistill.recipes import parse_recipe, tomllib

    values = {"stage": "reranker", "teacher": "bi-encoder", "student": "cross-encoder",
              "loss": "margin-mse", "extra": ""} | kw  # fmt: skip
    return parse_recipe(tomllib.loads(textwrap.dedent(RERANKER_RECIPE.format(**values))))


def _candidates(recipe):
    from ragdistill.stages.reranker.options import RerankerOptions

    return RerankerOptions.model_validate(recipe.stage_options).candidates


def test_candidates_table_is_validated_at_load():
    assert _candidates(_parse()).window == (3, 50)
    with pytest.raises(ConfigError, match="window"):
        _parse(extra="[reranker.candidates]\nk = 10\nwindow = [3, 50]")
    with pytest.raises(ConfigError, match=r"reranker\.candidates\.negativs: unknown key"):
        _parse(extra="[reranker.candidates]\nnegativs = 3")
    with pytest.raises(ConfigError, match=r"\[reranker\.candidates\.embedder\] kind"):
        _parse(extra='[reranker.candidates.embedder]\nkind = "nope"')
    with pytest.raises(ConfigError, match=r"move it as the table \[reranker\.candidates\]"):
        _parse(extra="[candidates]\nk = 10")
    with pytest.raises(ConfigError, match="remove it from this embedder recipe"):
        _parse(stage="embedder", teacher="sentence-transformers", student="sentence-transformers",
               loss="mse", extra="[candidates]\nk = 10")  # fmt: skip


def test_fingerprints_are_what_they_were_before_stages_owned_their_options():
    from ragdistill.recipes import recipe_fingerprint

    embedder = _parse(stage="embedder", teacher="sentence-transformers",
                      student="sentence-transformers", loss="mse")  # fmt: skip
    # Before reranker recipes had a [candidates] table and before teacher_pairs existed
    # (nor [plugins.*] tables, nor train.callbacks).
    old = {"output", "evaluate", "cache_dir", "name", "stage_options", "plugins"}
    data = embedder.model_dump(mode="json", exclude=old)
    data["train"].pop("callbacks")
    blob = json.dumps(data, sort_keys=True)
    assert recipe_fingerprint(embedder) == hashlib.sha256(blob.encode()).hexdigest()[:16]
    # A reranker recipe's candidates were hashed as a top-level [candidates] table.
    reranker = _parse(extra="[reranker.candidates]\nk = 20")
    data = reranker.model_dump(mode="json", exclude=old)
    data["train"].pop("callbacks")
    data["candidates"] = reranker.stage_options["candidates"]
    blob = json.dumps(data, sort_keys=True)
    assert recipe_fingerprint(reranker) == hashlib.sha256(blob.encode()).hexdigest()[:16]


def test_packaged_reranker_quickstart_validates(tmp_path: Path):
    from ragdistill.recipes import load_recipe

    text = resources.files("ragdistill.stages.reranker").joinpath("quickstart.toml").read_text()
    (tmp_path / "r.toml").write_text(text)
    recipe = load_recipe(tmp_path / "r.toml")
    assert recipe.stage == "reranker" and recipe.teacher.kind == "ensemble"
    assert recipe.student.kind == "colbert" and _candidates(recipe).window == (3, 30)
    models = [m["model"] for m in recipe.teacher.options["members"]]
    assert models == ["all-mpnet-base-v2", "all-MiniLM-L6-v2"]
