"""Query-transformer distillation end to end on tiny models: distill, A/B, reload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragdistill.artifacts import read_manifest
from tests.generator.tiny_squad import write_tiny_squad
from tests.query_transformer.tiny_query import tiny_query_recipe


@pytest.fixture
def squad(tmp_path: Path) -> Path:
    return write_tiny_squad(tmp_path / "squad.json", questions=3, names=True)


@pytest.fixture
def rule_teacher():
    from ragdistill import plugins, registry
    from tests.query_transformer.rule_teacher import RulePlugin

    pm = plugins.default_plugin_manager()
    plugin = RulePlugin()
    pm.register(plugin, name="query-rule-teacher")
    registry.reset()
    try:
        yield
    finally:
        pm.unregister(plugin)
        registry.reset()


def test_rewrite_distill_then_ab(tmp_path, rule_teacher, tiny_causal_lm_path, tiny_st_path, squad):
    from transformers import AutoModelForCausalLM

    from ragdistill.distill import run_recipe
    from ragdistill.loading import load_component
    from ragdistill.recipes import load_recipe
    from ragdistill.registry import default_registry

    recipe = load_recipe(tiny_query_recipe(tmp_path, student=tiny_causal_lm_path,
                                           retriever=tiny_st_path, squad=squad))  # fmt: skip
    artifact = run_recipe(recipe, show_progress=False)
    AutoModelForCausalLM.from_pretrained(artifact)  # a plain transformers folder
    manifest = read_manifest(artifact)
    assert manifest["stage"] == "query_transformer" and manifest["loader"] == "hf-llm"
    assert manifest["load_options"]["task"] == "rewrite"
    labelling = json.loads((tmp_path / "out" / "labelling.json").read_text())
    assert labelling["train_rows"] >= 2 and labelling["eval_examples"] == 8
    assert labelling["data"]["ok"] >= 8
    stage = default_registry().stage("query_transformer")()
    report = stage.ab_for_recipe(recipe, artifact, show_progress=False)
    assert report.is_file() and "student" in stage.ab_summary(report)
    ab = json.loads((tmp_path / "out" / "ab" / "ab.json").read_text())
    assert set(ab["arms"]) == {"raw", "history", "teacher", "student", "baseline", "gold"}
    # The rule teacher restores the stand-alone question: its rewrite is the gold one.
    assert ab["arms"]["teacher"]["metrics"] == ab["arms"]["gold"]["metrics"]
    assert ab["arms"]["teacher"]["speed"]["p50_ms"] > 0
    loaded = load_component(artifact, "query_transformer")
    out = loaded.rewrite("what is it?", [{"role": "user", "content": "what river flows?"}])
    assert isinstance(out, str) and out
    assert (tmp_path / "out" / "ab" / "report.html").is_file()
