"""The plugin as the core sees it: entry point, registry names, options from a recipe."""

from __future__ import annotations

import pytest

from ragdistill.errors import ConfigError
from ragdistill.plugins import get_plugin_manager, plugin_hooks
from ragdistill.registry import build_registry
from ragdistill_openai import (
    OpenAIChatGenerator,
    OpenAIEmbedder,
    OpenAIJudgeReranker,
    OpenAIQueryTransformer,
)

EXPECTED = {
    "embedder": OpenAIEmbedder,
    "reranker": OpenAIJudgeReranker,
    "query_transformer": OpenAIQueryTransformer,
    "generator": OpenAIChatGenerator,
}


def test_entry_point_registers_one_teacher_per_stage() -> None:
    pm = get_plugin_manager(env={"RAGDISTILL_LOAD_PLUGINS": "openai"})
    info = pm.report.loaded["openai"]
    assert (info.distribution, info.builtin) == ("ragdistill-openai", False)
    assert plugin_hooks(pm, "openai") == ["register_teachers"]
    registry = build_registry(pm, kinds=["teacher"])
    for stage, cls in EXPECTED.items():
        assert registry.teacher(stage, "openai") is cls  # type: ignore[arg-type]
    assert {(e.stage, e.name) for e in registry.by_plugin("openai")} == {
        (stage, "openai") for stage in EXPECTED
    }


def test_from_options_builds_a_working_component(server, connection) -> None:
    embedder = OpenAIEmbedder.from_options({"model": "m", **connection}, where="teacher.options")
    assert embedder.embed_many(["a", "b"]).shape == (2, 8)
    assert embedder.options["base_url"] == server.url


@pytest.mark.parametrize("cls", list(EXPECTED.values()))
def test_from_options_names_a_misspelled_key(cls, connection) -> None:
    options = {"model": "m", **connection, "max_retires": 3}
    with pytest.raises(
        ConfigError, match=r"teacher\.options\.max_retires.*did you mean 'max_retries'"
    ):
        cls.from_options(options, where="teacher.options")


def test_from_options_checks_types_and_required_keys(connection) -> None:
    with pytest.raises(ConfigError, match=r"teacher\.model: required key is missing"):
        OpenAIEmbedder.from_options({**connection}, where="teacher")
    with pytest.raises(ConfigError, match=r"teacher\.max_concurrency"):
        OpenAIEmbedder.from_options({"model": "m", "max_concurrency": "many"}, where="teacher")


def test_importing_the_plugin_does_not_import_httpx() -> None:
    import subprocess
    import sys

    code = (
        "import sys, ragdistill_openai.plugin, ragdistill_openai.embedder; "
        "print('httpx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
