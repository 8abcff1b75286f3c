"""Every query-transformer task end to end on tiny models (distill, then the recipe's A/B),
the seq2seq student, bare student prompts, and the recipes the stage refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragdistill.artifacts import read_manifest
from ragdistill.errors import ConfigError
from tests.generator.tiny_squad import write_tiny_squad
from tests.query_transformer.tiny_query import tiny_query_recipe

PLAIN_ARMS = {"raw", "teacher", "student", "baseline"}
CONVERSATION_ARMS = PLAIN_ARMS | {"history", "gold"}


@pytest.fixture
def rule_teacher():
    """The rule-following ``rule-llm`` teacher, registered in-process."""
    from tests.query_transformer.rule_teacher import RulePlugin, registered

    with registered(RulePlugin()):
        yield


@pytest.fixture
def squad(tmp_path: Path) -> Path:
    return write_tiny_squad(tmp_path / "squad.json", questions=3)


def _recipe(tmp_path: Path, student: Path, retriever: Path, squad: Path, **kw) -> Path:
    return tiny_query_recipe(tmp_path, student=student, retriever=retriever, squad=squad, **kw)


def _edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


def _data_stats(labelling: dict) -> dict:
    """The follow-up (or synthetic-question) counts of ``labelling.json``."""
    return labelling.get("data", labelling.get("follow_ups")) or {}


def _run(path: Path) -> tuple[Path, dict]:
    """Distill, then the recipe's A/B (as ``ragdistill distill`` runs them)."""
    from ragdistill.distill import run_recipe
    from ragdistill.recipes import load_recipe
    from ragdistill.registry import default_registry

    recipe = load_recipe(path)
    artifact = run_recipe(recipe, show_progress=False)
    stage = default_registry().stage("query_transformer")()
    report = stage.ab_for_recipe(recipe, artifact, show_progress=False)
    assert report == artifact.parent / "ab" / "report.html" and report.is_file()
    assert "query-transformer A/B" in stage.ab_summary(report)
    return artifact, json.loads((report.parent / "ab.json").read_text())


def test_expand_with_the_causal_student(
    tmp_path, rule_teacher, tiny_causal_lm_path, tiny_st_path, squad
):
    from ragdistill.hf.query_transformers import EXPAND_PROMPT
    from ragdistill.loading import load_component

    artifact, ab = _run(_recipe(tmp_path, tiny_causal_lm_path, tiny_st_path, squad, task="expand",
                                stage_extra="num_queries = 3"))  # fmt: skip
    manifest = read_manifest(artifact)
    assert manifest["stage"] == "query_transformer" and manifest["loader"] == "hf-llm"
    options = manifest["load_options"]
    assert options["task"] == "expand" and options["num_queries"] == 3
    assert options["max_new_tokens"] == 12
    assert options["expand_prompt"] == EXPAND_PROMPT  # the teacher's prompt
    labelling = json.loads((tmp_path / "out" / "labelling.json").read_text())
    assert labelling["task"] == "expand" and not _data_stats(labelling)
    assert labelling["dropped"]["malformed_teacher_outputs"] == 0
    assert labelling["train_rows"] == labelling["train_examples"] == 16
    assert set(ab["arms"]) == PLAIN_ARMS and ab["task"] == "expand" and ab["num_queries"] == 3
    assert ab["n"] == 8
    # The rule teacher writes three distinct queries for every question.
    assert all(len(s["outputs"]["teacher"]) == 3 for s in ab["sample"])
    assert ab["arms"]["teacher"]["malformed"] == 0
    assert {"ab/ndcg@10", "ab/recall@100"} <= set(read_manifest(artifact)["metrics"])
    loaded = load_component(artifact, "query_transformer")
    assert 1 <= len(loaded.expand("what river water?", num_queries=3)) <= 3


@pytest.fixture(scope="module")
def hyde_run(tmp_path_factory, tiny_causal_lm_path, tiny_st_path) -> tuple[Path, Path, dict]:
    """A hyde distillation with bare student prompts, then its A/B: (workdir, artifact, ab)."""
    from tests.query_transformer.rule_teacher import RulePlugin, registered

    tmp_path = tmp_path_factory.mktemp("hyde")
    squad = write_tiny_squad(tmp_path / "squad.json", questions=3)
    with registered(RulePlugin()):
        artifact, ab = _run(_recipe(tmp_path, tiny_causal_lm_path, tiny_st_path, squad,
                                    task="hyde", stage_extra='student_prompt = "bare"'))  # fmt: skip
    return tmp_path, artifact, ab


def test_hyde_with_bare_student_prompts(hyde_run):
    from ragdistill.contracts import QueryRequest
    from ragdistill.hf.query_transformers import BARE_PROMPT, HYDE_PROMPT, REWRITE_PROMPT
    from ragdistill.loading import load_component

    tmp_path, artifact, ab = hyde_run
    student = read_manifest(artifact)["load_options"]
    assert student["task"] == "hyde"
    assert student["hyde_prompt"] == student["rewrite_prompt"] == BARE_PROMPT
    assert student["expand_prompt"] == BARE_PROMPT
    # The student before distillation always gets the teacher's prompts.
    baseline = read_manifest(tmp_path / "out" / "baseline")
    assert baseline["loader"] == "hf-llm"
    assert baseline["load_options"]["hyde_prompt"] == HYDE_PROMPT
    assert baseline["load_options"]["rewrite_prompt"] == REWRITE_PROMPT
    # The artifact asks its model with the bare prompt.
    loaded = load_component(artifact, "query_transformer")
    req = QueryRequest("what river water?")
    assert loaded.generation_request(req).messages[-1].content == "Question: what river water?"
    assert set(ab["arms"]) == PLAIN_ARMS and ab["task"] == "hyde"
    # The teacher's passages parse: "<question words> is described here. ...".
    assert all(" is described here." in s["outputs"]["teacher"][0] for s in ab["sample"])
    assert ab["arms"]["teacher"]["malformed"] == 0


def test_rewrite_with_the_seq2seq_student(tmp_path, rule_teacher, tiny_seq2seq_path, tiny_st_path):
    squad = write_tiny_squad(tmp_path / "squad.json", questions=3, names=True)
    artifact, ab = _run(_recipe(tmp_path, tiny_seq2seq_path, tiny_st_path, squad,
                                student_kind="seq2seq"))  # fmt: skip
    manifest = read_manifest(artifact)
    assert manifest["stage"] == "query_transformer" and manifest["loader"] == "hf-seq2seq"
    options = manifest["load_options"]
    assert options["task"] == "rewrite" and options["expansion"] == "separator"
    assert options["prefix"] == "rewrite: " and options["max_new_tokens"] == 12
    assert not any(k.endswith("_prompt") for k in options)  # no LLM prompt
    assert read_manifest(tmp_path / "out" / "baseline")["loader"] == "hf-seq2seq"
    labelling = json.loads((tmp_path / "out" / "labelling.json").read_text())
    assert _data_stats(labelling)["ok"] >= 8 and labelling["eval_examples"] == 8
    assert labelling["train_rows"] >= 2
    assert set(ab["arms"]) == CONVERSATION_ARMS and ab["task"] == "rewrite"
    # The rule teacher restores the stand-alone question exactly: it scores as gold does.
    assert ab["arms"]["teacher"]["metrics"] == ab["arms"]["gold"]["metrics"]
    for s in ab["sample"]:
        assert s["outputs"]["teacher"] == [s["gold"]] and s["query"] != s["gold"]
        assert " it " in f" {s['query']} "  # the follow-up leans on the conversation


def test_a_single_output_task_ab_records_one_query(hyde_run):
    _, _, ab = hyde_run
    assert ab["num_queries"] == 1


# --- refused recipes ------------------------------------------------------------------------


def test_teacher_task_contradicting_the_stage_is_refused(tmp_path, squad, tiny_causal_lm_path,
                                                         tiny_st_path):  # fmt: skip
    from ragdistill.recipes import load_recipe

    path = _recipe(tmp_path, tiny_causal_lm_path, tiny_st_path, squad, teacher_kind="hf-llm",
                   teacher_model=str(tiny_causal_lm_path), task="rewrite")  # fmt: skip
    _edit(path, "batch_size = 4\n", 'batch_size = 4\ntask = "expand"\n')
    with pytest.raises(ConfigError, match=r'\[teacher\] task = "expand".*task = "rewrite".*remove'):
        load_recipe(path)
    # The same task (or auto) is accepted.
    _edit(path, 'task = "expand"\n', 'task = "auto"\n')
    assert load_recipe(path).teacher.options["task"] == "auto"


def test_token_kd_without_top_logprobs_is_refused(tmp_path, squad, tiny_causal_lm_path,
                                                  tiny_st_path):  # fmt: skip
    from ragdistill.recipes import load_recipe

    path = _recipe(tmp_path, tiny_causal_lm_path, tiny_st_path, squad, teacher_kind="hf-llm",
                   teacher_model=str(tiny_causal_lm_path),
                   losses='[[losses]]\nname = "token-kd"\n')  # fmt: skip
    with pytest.raises(ConfigError, match=r"token-kd.*top_logprobs = 20.*sequence-kd"):
        load_recipe(path)


def test_token_kd_with_a_seq2seq_student_is_refused(tmp_path, squad, tiny_causal_lm_path,
                                                    tiny_seq2seq_path, tiny_st_path):  # fmt: skip
    from ragdistill.recipes import load_recipe

    path = _recipe(tmp_path, tiny_seq2seq_path, tiny_st_path, squad, teacher_kind="hf-llm",
                   teacher_model=str(tiny_causal_lm_path), student_kind="seq2seq",
                   losses='[[losses]]\nname = "token-kd"\n')  # fmt: skip
    _edit(path, "max_new_tokens = 12\n", "max_new_tokens = 12\ntop_logprobs = 4\n")
    with pytest.raises(ConfigError, match=r"causal LM student.*'seq2seq' student.*sequence-kd"):
        load_recipe(path)


def test_a_teacher_that_prompts_no_generator_is_refused(
    tmp_path, squad, tiny_causal_lm_path, tiny_seq2seq_path, tiny_st_path
):
    from ragdistill.distill import run_recipe
    from ragdistill.recipes import load_recipe

    path = _recipe(tmp_path, tiny_causal_lm_path, tiny_st_path, squad, teacher_kind="hf-seq2seq",
                   teacher_model=str(tiny_seq2seq_path), task="expand")  # fmt: skip
    # Refused when the recipe is read (the stage's check) or at the latest when the
    # teacher is built (setup.build_teacher), before any teacher call or training.
    with pytest.raises(ConfigError, match=r"'hf-seq2seq' cannot be distilled.*hf-llm"):
        run_recipe(load_recipe(path), show_progress=False)
    assert not (tmp_path / "out" / "student").exists()


class _NoTaskTeacher:
    """Prompts a generator (generation_request, parse) but cannot be told its task."""

    def __init__(self, model: str, batch_size: int = 8) -> None:
        from tests.query_transformer.rule_teacher import RuleGenerator

        self.model = model
        self.generator = RuleGenerator()

    def generation_request(self, req):  # type: ignore[no-untyped-def]
        from ragdistill.contracts import request

        return request(req.query)

    def parse(self, text, req):  # type: ignore[no-untyped-def]
        return [text]

    def describe(self):  # type: ignore[no-untyped-def]
        return {"class": "NoTaskTeacher", "model": self.model}


class _NoTaskPlugin:
    from ragdistill.hookspecs import hookimpl

    @hookimpl
    def register_teachers(self, register):  # type: ignore[no-untyped-def]
        from ragdistill.contracts import QueryTransformer

        class NoTaskTeacher(_NoTaskTeacher, QueryTransformer):
            def transform_batch(self, requests):  # type: ignore[no-untyped-def]
                return [[r.query] for r in requests]

        register("no-task-llm", NoTaskTeacher)


def test_a_prompted_teacher_without_a_task_is_refused_at_distill_time(
    tmp_path, squad, tiny_causal_lm_path, tiny_st_path
):
    from ragdistill.distill import run_recipe
    from ragdistill.recipes import load_recipe
    from tests.query_transformer.rule_teacher import registered

    path = _recipe(tmp_path, tiny_causal_lm_path, tiny_st_path, squad, teacher_kind="no-task-llm",
                   task="hyde")  # fmt: skip
    with registered(_NoTaskPlugin(), name="no-task-teacher"):
        recipe = load_recipe(path)  # valid: it has generation_request() and parse()
        with pytest.raises(ConfigError, match=r"'no-task-llm' cannot be distilled.*task"):
            run_recipe(recipe, show_progress=False)
    assert not (tmp_path / "out" / "student").exists()
    assert not (tmp_path / "cache" / "generations").exists()  # nothing was asked


def test_expand_trains_on_unjudged_beir_queries(tmp_path, rule_teacher, tiny_causal_lm_path,
                                                tiny_st_path):  # fmt: skip
    from ragdistill.recipes import load_recipe
    from ragdistill.stages.query_transformer.setup import prepare
    from tests.core.tiny_beir import write_tiny_beir

    beir = write_tiny_beir(tmp_path / "beir")  # 16 queries, 8 judged
    path = _recipe(tmp_path, tiny_causal_lm_path, tiny_st_path, tmp_path / "unused.json",
                   task="expand")  # fmt: skip
    text = path.read_text()
    start, end = text.index("[data]"), text.index("[[losses]]")
    path.write_text(text[:start] + f'[data]\ndataset = "beir"\npath = "{beir}"\n'
                    "unjudged_queries = true\n\n" + text[end:])  # fmt: skip
    setup = prepare(load_recipe(path), show_progress=False)
    assert len(setup.eval) == 8
    assert len(setup.train) == 8  # the unjudged queries: in-domain text to learn from
