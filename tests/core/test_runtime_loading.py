"""Every artifact load goes through a runtime's ``load()`` (issue #18, defect 7).

A runtime that records its calls is installed as a real plugin distribution
(``rd-recording-runtime``, found through its entry point); then ``load_component``,
``ragdistill ab embedder --runtime`` and a recipe's A/B (``[runtime] backend``) must all
load through it, and nothing else.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from ragdistill import plugins
from ragdistill.artifacts import write_manifest
from ragdistill.cli import build_cli
from ragdistill.errors import ConfigError, ContractError, UnknownNameError
from ragdistill.loading import load_component, resolve_runtime
from ragdistill.torch_runtime import TorchRuntime
from tests.core.fake_dists import PluginInstaller
from tests.core.tiny_beir import tiny_recipe, write_tiny_beir

RECORDING_RUNTIME = '''
from ragdistill.hookspecs import hookimpl
from ragdistill.loading import build_component, locate
from ragdistill.runtime import RuntimeBackend

CALLS = []


class RecordingRuntime(RuntimeBackend):
    """Loads with the artifact's own loader on the CPU and records every call."""

    def __init__(self, tag: str = "default", wrong_stage: bool = False) -> None:
        self.tag = tag
        self.wrong_stage = wrong_stage

    def load(self, path, stage=None, **options):
        CALLS.append({"path": str(path), "stage": stage, "options": options, "tag": self.tag})
        if self.wrong_stage:
            from ragdistill.stages.reranker.components import CrossEncoderReranker

            return CrossEncoderReranker(model=str(path))
        return build_component(locate(path, stage), device="cpu", **options)

    def training_device(self):
        return "cpu"


@hookimpl
def register_runtimes(register):
    register("recording", RecordingRuntime)
'''


@pytest.fixture
def recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """``rd-recording-runtime`` installed for one test; its ``CALLS`` list."""
    monkeypatch.delenv(plugins.LOAD_ENV, raising=False)
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    (tmp_path / "site").mkdir()
    installer = PluginInstaller(tmp_path / "site", monkeypatch)
    installer.install(
        "rd-recording-runtime",
        entry_name="recording",
        module="rd_recording_runtime",
        source=RECORDING_RUNTIME,
    )
    plugins.reset()
    plugins.default_plugin_manager()  # imports the entry point
    yield sys.modules["rd_recording_runtime"]
    plugins.reset()


def calls(module: ModuleType) -> list[dict[str, Any]]:
    return list(module.CALLS)


# -- load_component -----------------------------------------------------------------------


def test_load_component_loads_through_the_named_runtime(
    recording: ModuleType, tiny_st_path: Path
) -> None:
    component = load_component(
        tiny_st_path, "embedder", runtime="recording", runtime_options={"tag": "t1"}, batch_size=4
    )
    assert component.stage == "embedder" and component.batch_size == 4
    assert calls(recording) == [
        {"path": str(tiny_st_path), "stage": "embedder", "options": {"batch_size": 4}, "tag": "t1"}
    ]


def test_load_component_takes_a_runtime_instance(recording: ModuleType, tiny_st_path: Path) -> None:
    runtime = resolve_runtime("recording", {"tag": "built"})
    assert isinstance(runtime, recording.RecordingRuntime) and runtime.options == {"tag": "built"}
    load_component(tiny_st_path, runtime=runtime)
    assert [(c["stage"], c["tag"]) for c in calls(recording)] == [(None, "built")]


def test_runtime_options_are_validated_before_any_load(
    recording: ModuleType, tiny_st_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"runtime\.tga: unknown key; did you mean 'tag'\?"):
        load_component(tiny_st_path, runtime="recording", runtime_options={"tga": "x"})
    with pytest.raises(UnknownNameError, match=r"no runtime named 'recordin'.*'recording'"):
        load_component(tiny_st_path, runtime="recordin")
    with pytest.raises(ConfigError, match="go with a runtime name"):
        resolve_runtime(TorchRuntime(), {"device": "cpu"})
    assert calls(recording) == []


def test_a_runtime_returning_another_stage_is_refused(
    recording: ModuleType, tiny_st_path: Path
) -> None:
    with pytest.raises(ContractError, match=r"RecordingRuntime\.load.*returned 'reranker'"):
        load_component(
            tiny_st_path, "embedder", runtime="recording", runtime_options={"wrong_stage": True}
        )


def test_the_default_runtime_is_torch_on_the_cpu(
    tiny_st_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, Path]] = []
    load = TorchRuntime.load

    def spy(self: TorchRuntime, path: Path, stage: str | None = None, **options: Any) -> Any:
        seen.append((self.device, path))
        return load(self, path, stage, **options)

    monkeypatch.setattr(TorchRuntime, "load", spy)
    component = load_component(tiny_st_path, "embedder")
    assert seen == [("cpu", tiny_st_path)]
    assert component.options["device"] == "cpu"
    # An explicit loader option still wins over the runtime's device.
    assert load_component(tiny_st_path, device="cpu", batch_size=2).batch_size == 2


# -- the embedder A/B ------------------------------------------------------------------------


def artifact_of(model: Path, target: Path) -> Path:
    """A tiny model copied into an artifact folder with a manifest, as a distillation writes."""
    shutil.copytree(model, target, ignore=shutil.ignore_patterns(".ragdistill-tiny*"))
    write_manifest(target, stage="embedder", loader="sentence-transformers")
    return target


def test_ab_embedder_command_loads_artifact_arms_through_runtime(
    recording: ModuleType, tiny_st_path: Path, tmp_path: Path
) -> None:
    pytest.importorskip("chromadb")
    data = write_tiny_beir(tmp_path / "beir", docs=20, queries=6, judged=6)
    student = artifact_of(tiny_st_path, tmp_path / "student")
    args = [
        "ab", "embedder", "--teacher", f"sentence-transformers:{tiny_st_path}",
        "--student", str(student), "--dataset", "beir", "--data-path", str(data),
        "--index-dir", str(tmp_path / "chroma"), "--out", str(tmp_path / "out"), "-k", "5",
        "--n-bootstrap", "20", "-q", "--runtime", "recording", "--runtime-option", "tag=cli",
    ]  # fmt: skip
    result = CliRunner().invoke(build_cli(), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # The KIND:MODEL teacher is built by its class; the artifact arm by the runtime.
    assert [(c["path"], c["tag"]) for c in calls(recording)] == [(str(student), "cli")]
    ab = json.loads((tmp_path / "out" / "ab.json").read_text())
    assert set(ab["arms"]) == {"teacher", "student"}


def test_ab_commands_refuse_a_bad_runtime_before_loading_anything(tmp_path: Path) -> None:
    for stage in ("embedder", "reranker"):
        args = ["ab", stage, "--teacher", "x", "--student", "y", "--out", str(tmp_path),
                "--runtime", "torch", "--runtime-option", "device=tpu"]  # fmt: skip
        result = CliRunner().invoke(build_cli(), args)
        assert result.exit_code != 0
        assert "runtime.device must be auto, cpu, cuda, cuda:N or mps" in result.output
        help_text = CliRunner().invoke(build_cli(), ["ab", stage, "--help"]).output
        assert "--runtime NAME" in help_text and "--runtime-option KEY=VALUE" in help_text


def test_recipe_ab_loads_student_and_baseline_through_its_runtime(
    recording: ModuleType, tiny_st_path: Path, tmp_path: Path
) -> None:
    pytest.importorskip("chromadb")
    from ragdistill.recipes import load_recipe
    from ragdistill.stages.embedder.evaluate import ab_for_recipe

    path = tiny_recipe(tmp_path, tiny_st_path, tiny_st_path, write_tiny_beir(tmp_path / "beir"))
    text = path.read_text().replace('device = "cpu"\nthreads = 1', 'backend = "recording"')
    path.write_text(text.replace("k = 20", "k = 10\nmax_queries = 4"))
    recipe = load_recipe(path)
    out = Path(recipe.output)
    student = artifact_of(tiny_st_path, out / "student")
    shutil.copytree(tiny_st_path, out / "baseline", ignore=shutil.ignore_patterns(".ragdistill-*"))

    report = ab_for_recipe(recipe, student, show_progress=False)
    # The reference (the pruned student's starting model) runs on the same runtime too.
    assert [(Path(c["path"]), c["stage"]) for c in calls(recording)] == [
        (student, "embedder"),
        (out / "baseline", "embedder"),
        (tiny_st_path, "embedder"),
    ]
    ab = json.loads((report.parent / "ab.json").read_text())
    assert set(ab["arms"]) == {"teacher", "student", "baseline", tiny_st_path.name}
    assert np.isfinite(ab["arms"]["student"]["metrics"]["ndcg@10"])
