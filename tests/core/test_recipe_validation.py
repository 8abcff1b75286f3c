"""Recipes validated in full before any model loads (#18 defect 8) and plugin-owned
``[plugins.<name>]`` tables (#18 defect 12)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ragdistill import plugins
from ragdistill.errors import ConfigError
from ragdistill.recipes import (
    load_recipe,
    parse_recipe,
    public_recipe,
    recipe_fingerprint,
    tomllib,
)
from tests.core.fake_dists import PluginInstaller
from tests.core.test_recipes import GOOD, write

PLUGIN = """
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ragdistill.contracts import Embedder
from ragdistill.hookspecs import hookimpl


class TrackerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str
    level: int = Field(1, ge=1)


class NoteOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    in_fingerprint: ClassVar[bool] = False  # observes only: a run resumes whatever it says
    note: str = ""


class Picky(Embedder):
    def __init__(self, temperature: float = 1.0) -> None:
        if temperature <= 0:  # a plain ValueError, as a plugin author writes it
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def embed_batch(self, texts, *, input_type="document"):
        return np.ones((len(texts), 2), dtype=np.float32)


@hookimpl
def register_recipe_options(register):
    register("tracker", TrackerOptions)
    register("notes", NoteOptions)


@hookimpl
def register_teachers(register):
    register("picky", Picky)
"""


@pytest.fixture
def installer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginInstaller]:
    """Installs real distributions for one test; the process-wide manager reset around it."""
    monkeypatch.delenv(plugins.LOAD_ENV, raising=False)
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    (tmp_path / "site").mkdir()
    yield PluginInstaller(tmp_path / "site", monkeypatch)
    plugins.reset()
    for module in ("rd_tables", "rd_halfstage"):
        sys.modules.pop(module, None)


@pytest.fixture
def tables_plugin(installer: PluginInstaller) -> None:
    installer.install("rd-tables", entry_name="tables", module="rd_tables", source=PLUGIN)
    plugins.reset()


def reranker_quickstart() -> dict[str, Any]:
    text = resources.files("ragdistill.stages.reranker").joinpath("quickstart.toml").read_text()
    data: dict[str, Any] = tomllib.loads(text)
    return data


# -- defect 8: constructors' range checks, nested tables, stages that cannot run -----------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'model = "all-mpnet-base-v2"',
            'model = "all-mpnet-base-v2"\nbatch_size = 0',
            "[teacher] batch_size must be >= 1, got 0",
        ),
        (
            "keep_layers = [0, 2, 4]",
            "keep_layers = [2, 0]",
            "[student] student.keep_layers must be distinct ascending indices",
        ),
        (
            'path = "/data/scifact"',
            'path = "/data/scifact"\nmax_corpus = 0',
            "[data] max_corpus must be >= 1, got 0",
        ),
        (
            "learning_rate = 1e-4",
            'learning_rate = 1e-4\n\n[runtime]\ndevice = "tpu"',
            "[runtime] runtime.device must be auto, cpu, cuda, cuda:N or mps, got 'tpu'",
        ),
    ],
)
def test_range_checks_in_constructors_fail_at_validation(tmp_path, old, new, expected):
    assert old in GOOD
    with pytest.raises(ConfigError) as info:
        load_recipe(write(tmp_path, GOOD.replace(old, new, 1)))
    assert expected in str(info.value)


def test_a_plugin_constructor_raising_value_error_names_the_table(tables_plugin, tmp_path):
    text = GOOD.replace('kind = "sentence-transformers"\nmodel = "all-mpnet-base-v2"',
                        'kind = "picky"\ntemperature = 0.0', 1)  # fmt: skip
    with pytest.raises(ConfigError, match=r"\[teacher\] temperature must be > 0, got 0\.0"):
        load_recipe(write(tmp_path, text))


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ({"kind": "bi-encoder", "model": "m", "batch_size": 0}, "batch_size must be >= 1, got 0"),
        ({"kind": "bi-encoder", "model": "m", "batch_sise": 8}, "members[1].batch_sise: unknown"),
        ({"kind": "cross-encodr", "model": "m"}, "kind: no reranker teacher named"),
        ({"kind": "ensemble", "members": []}, "an ensemble cannot contain another ensemble"),
    ],
)
def test_a_nested_teacher_table_fails_at_validation_naming_its_path(member, expected):
    data = reranker_quickstart()
    data["teacher"]["members"][1] = member
    with pytest.raises(ConfigError) as info:
        parse_recipe(data, where="r.toml")
    assert str(info.value).startswith("r.toml: [teacher.members[1]] ")
    assert expected in str(info.value)


def test_a_stage_options_component_is_constructed_too():
    data = reranker_quickstart()
    data["reranker"]["candidates"]["embedder"] = {"kind": "sentence-transformers", "model": "m",
                                                  "max_seq_length": 0}  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"\[reranker\.candidates\.embedder\] max_seq_length must"
    ):
        parse_recipe(data)


def test_distill_check_refuses_a_bad_member_and_a_stage_that_cannot_run(tmp_path):
    from ragdistill.cli import build_cli

    text = resources.files("ragdistill.stages.reranker").joinpath("quickstart.toml").read_text()
    bad = text.replace("batch_size = 32, max_seq_length", "batch_size = -1, max_seq_length")
    assert bad != text
    (tmp_path / "bad.toml").write_text(bad)
    result = CliRunner().invoke(build_cli(), ["distill", str(tmp_path / "bad.toml"), "--check"])
    assert result.exit_code == 1
    assert "[teacher.members[1]] batch_size must be >= 1, got -1" in result.output
    (tmp_path / "qt.toml").write_text(
        text.replace('stage = "reranker"', 'stage = "query_transformer"')
    )
    # Without the plugin that registers the query-transformer stage, only its teachers remain.
    from ragdistill import plugins, registry

    pm = plugins.default_plugin_manager()
    name = "ragdistill.stages.query_transformer.plugin"
    stage_plugin = pm.unregister(name=name)
    registry.reset()
    try:
        result = CliRunner().invoke(build_cli(), ["distill", str(tmp_path / "qt.toml"), "--check"])
    finally:
        pm.register(stage_plugin, name=name)
        registry.reset()
    assert result.exit_code == 1 and "valid" not in result.output
    assert "'query_transformer' cannot be distilled: teachers for it are registered (hf-llm" in (
        result.output
    )
    assert "no installed plugin registers a query_transformer stage" in result.output


def test_constructing_at_validation_loads_no_model_library(tmp_path):
    """The reranker quickstart builds an ensemble of two bi-encoders: nothing loads."""
    text = resources.files("ragdistill.stages.reranker").joinpath("quickstart.toml").read_text()
    (tmp_path / "r.toml").write_text(text)
    code = (
        "import sys\nfrom ragdistill.recipes import load_recipe\n"
        f"load_recipe({str(tmp_path / 'r.toml')!r})\n"
        "print([m for m in ('transformers', 'sentence_transformers') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]"]


HALF_STAGE = """
from ragdistill.contracts import Embedder
from ragdistill.hookspecs import hookimpl
from ragdistill.stage import DistillationStage


class ABOnly(DistillationStage):  # no distill(): nothing could run a recipe of it
    contract = Embedder

    def ab_for_recipe(self, recipe, artifact, *, show_progress): ...
    def ab_summary(self, report): ...
    def ab_command(self): ...


@hookimpl
def register_stages(register):
    register("embedder", ABOnly)
"""


def test_a_stage_without_a_distillation_pipeline_is_refused_at_registration(installer):
    from ragdistill.registry import build_registry

    installer.install("rd-half", entry_name="halfstage", module="rd_halfstage", source=HALF_STAGE)
    registry = build_registry(plugins.get_plugin_manager(), kinds=("stage",))
    [failed] = registry.failed
    assert "plugin 'halfstage'" in failed.error
    assert "it cannot run: it does not implement distill" in failed.error


# -- defect 12: [plugins.<name>] tables ------------------------------------------------------


def with_tables(tmp_path: Path, tables: str) -> Path:
    return write(tmp_path, GOOD + "\n" + tables)


def test_a_plugin_table_is_validated_and_available_as_its_model(tables_plugin, tmp_path):
    recipe = load_recipe(with_tables(tmp_path, '[plugins.tracker]\nproject = "bank"\n'))
    options = recipe.plugins["tracker"]
    assert type(options).__name__ == "TrackerOptions"
    assert (options.project, options.level) == ("bank", 1)
    dumped = recipe.model_dump(mode="json")
    assert dumped["plugins"] == {"tracker": {"project": "bank", "level": 1}}
    assert parse_recipe(dumped).plugins["tracker"] == options  # recipe.json parses back
    assert public_recipe(recipe)["plugins"] == dumped["plugins"]


@pytest.mark.parametrize(
    ("tables", "expected"),
    [
        (
            '[plugins.tracker]\nprojet = "bank"\n',
            "plugins.tracker.projet: unknown key; did you mean 'project'?",
        ),
        (
            '[plugins.tracker]\nproject = "bank"\nlevel = 0\n',
            "plugins.tracker.level: Input should be greater than or equal to 1",
        ),
        (
            '[plugins.trackr]\nproject = "bank"\n',
            "[plugins.trackr] no installed plugin owns a [plugins.trackr] table; tables plugins "
            "registered: notes, tracker",
        ),
        ("[plugins]\ntracker = 3\n", "[plugins.tracker] must be a table"),
    ],
)
def test_a_bad_plugin_table_fails_at_parse_naming_it(tables_plugin, tmp_path, tables, expected):
    with pytest.raises(ConfigError) as info:
        load_recipe(with_tables(tmp_path, tables))
    assert expected in str(info.value)


def test_a_table_of_a_plugin_not_installed_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"tables plugins registered: none"):
        load_recipe(with_tables(tmp_path, '[plugins.tracker]\nproject = "bank"\n'))


def test_plugin_tables_leave_other_recipes_fingerprints_alone(tables_plugin, tmp_path):
    base = load_recipe(write(tmp_path, GOOD))
    data = base.model_dump(mode="json", exclude={"output", "evaluate", "cache_dir", "name"})
    for key in ("stage_options", "plugins"):  # the recipe as fingerprinted before either
        data.pop(key)
    data["train"].pop("callbacks")
    from tests.core.test_recipes import _old_fingerprint

    assert recipe_fingerprint(base) == _old_fingerprint(data)
    tracked = load_recipe(with_tables(tmp_path, '[plugins.tracker]\nproject = "bank"\n'))
    assert recipe_fingerprint(tracked) != recipe_fingerprint(base)
    noted = load_recipe(with_tables(tmp_path, '[plugins.notes]\nnote = "first try"\n'))
    assert recipe_fingerprint(noted) == recipe_fingerprint(base)  # in_fingerprint = False


def test_ragdistill_plugins_lists_a_plugin_table(tables_plugin):
    from ragdistill.cli import build_cli

    result = CliRunner().invoke(build_cli(), ["plugins"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "  recipe table: [plugins.tracker]" in lines and "  embedder teacher: picky" in lines
