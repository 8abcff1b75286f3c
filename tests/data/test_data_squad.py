"""SQuAD as a retrieval set, and BEIR's unjudged queries as training text."""

from __future__ import annotations

import json

import pytest

from ragdistill.data import BeirDataset
from ragdistill.data.squad import SquadDataset
from ragdistill.errors import ConfigError
from ragdistill.stages.embedder.pipeline import plan_texts


@pytest.fixture
def squad_file(tmp_path):
    data = {"data": [
        {"title": "Super_Bowl", "paragraphs": [
            {"context": "The game was played in Santa Clara.", "qas": [
                {"id": "q1", "question": "Where was the game?", "answers": [{"text": "Santa Clara"}]},
                {"id": "q2", "question": "What was played?", "answers": [{"text": "The game"}]},
            ]},
            {"context": "Denver won the title.", "qas": [
                {"id": "q3", "question": "Who won?", "answers": [{"text": "Denver"}]},
            ]},
        ]},
    ]}  # fmt: skip
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(data))
    return path


def test_paragraphs_are_documents_and_questions_point_to_theirs(squad_file):
    ds = SquadDataset(squad_file, eval_queries=None).load()
    assert ds.corpus["a0-p0"].title == "Super Bowl"
    assert ds.qrels == {"q1": {"a0-p0": 1}, "q2": {"a0-p0": 1}, "q3": {"a0-p1": 1}}


def test_only_sampled_questions_are_judged_the_rest_train(squad_file):
    ds = SquadDataset(squad_file, eval_queries=1, seed=3).load()
    assert len(ds.evaluable_query_ids()) == 1 and len(ds.queries) == 3
    plan = plan_texts(ds, max_texts=None, seed=0)
    held_out = ds.queries[ds.evaluable_query_ids()[0]]
    assert held_out not in plan.texts  # evaluated questions never train the student
    assert (
        len([t for t, k in zip(plan.texts, plan.types) if k == "query"]) == 2 + 1
    )  # 2 questions + title


def test_bad_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        SquadDataset(tmp_path / "missing.json").load()
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"not SQuAD v1\.1 JSON"):
        SquadDataset(tmp_path / "x.json").load()


def test_beir_unjudged_queries_are_kept_unjudged(tmp_path):
    from tests.core.tiny_beir import write_tiny_beir

    root = write_tiny_beir(tmp_path / "beir", queries=16, judged=8)
    plain = BeirDataset(root).load()
    both = BeirDataset(root, unjudged_queries=True).load()
    assert len(plain.queries) == 8 and len(both.queries) == 16
    assert both.evaluable_query_ids() == plain.evaluable_query_ids()


def test_max_corpus_keeps_judged_paragraphs(squad_file):
    ds = SquadDataset(squad_file, eval_queries=1, max_corpus=1, seed=3).load()
    judged = ds.evaluable_query_ids()[0]
    assert list(ds.corpus) == list(ds.qrels[judged]) and len(ds.queries) == 3
