"""A run resumes when only where or in what slices it runs changed (a CPU run continued on a
GPU, a smaller teacher batch after running out of memory), and checkpoints written when
those options were still fingerprinted resume too."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from ragdistill.distill.loop import train
from ragdistill.errors import ConfigError
from ragdistill.recipes import load_recipe, parse_recipe, recipe_fingerprint, recipe_fingerprints
from ragdistill.recipes.schema import TrainSpec
from tests.core.test_recipes import GOOD, write
from tests.core.test_training_callbacks import INPUTS, MSE, TARGETS, Line


def _changed(data: dict[str, Any], **tables: dict[str, Any]) -> Any:
    return parse_recipe({**data, **{k: {**data.get(k, {}), **v} for k, v in tables.items()}})


def _formula_before(recipe: Any) -> str:
    """The fingerprint as computed before operational options left it."""
    data = recipe.model_dump(
        mode="json", exclude={"output", "evaluate", "cache_dir", "name", "stage_options", "plugins"}
    )
    data["train"].pop("callbacks")
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def test_operational_options_leave_the_fingerprint_alone(tmp_path):
    base = load_recipe(write(tmp_path, GOOD))
    data = base.model_dump(mode="json")
    moved = _changed(
        data,
        runtime={"device": "cuda", "threads": 8},
        teacher={"device": "cuda:1", "batch_size": 4},
        student={"device": "cpu"},
        train={"checkpoint_every": 7, "keep_checkpoints": 5, "teacher_batch_size": 8},
    )
    assert recipe_fingerprint(moved) == recipe_fingerprint(base)
    # A recipe at the defaults hashes as it always did: one fingerprint, the old one.
    assert recipe_fingerprints(base) == (_formula_before(base),)
    # One that set an operational option has the old formula's fingerprint second.
    assert recipe_fingerprints(moved)[1:] == (_formula_before(moved),)
    assert recipe_fingerprints(moved)[1] != recipe_fingerprint(moved)
    # What the student learns still changes it.
    for tables in ({"train": {"learning_rate": 3e-4}}, {"student": {"keep_layers": [0, 1]}},
                   {"teacher": {"model": "all-MiniLM-L6-v2"}}):  # fmt: skip
        assert recipe_fingerprint(_changed(data, **tables)) != recipe_fingerprint(base)


def _run(output: Path, fingerprint: str, also: tuple[str, ...] = (), crash_at: int | None = None):
    torch.manual_seed(0)
    model, calls = Line(), []

    def teacher_outputs(indices: list[int]) -> torch.Tensor:
        calls.append(indices)
        if len(calls) == crash_at:
            raise RuntimeError("killed")
        return TARGETS[indices]

    spec = TrainSpec(batch_size=2, epochs=3, learning_rate=0.05, checkpoint_every=5)
    result = train(model, MSE(), INPUTS, teacher_outputs, spec, output=output,
                   fingerprint=fingerprint, also_resumes=also, show_progress=False)  # fmt: skip
    return model, result


def test_a_checkpoint_of_the_older_fingerprint_resumes_and_is_rewritten(tmp_path):
    unbroken, _ = _run(tmp_path / "unbroken", "new")
    with pytest.raises(RuntimeError, match="killed"):
        _run(tmp_path / "out", "old", crash_at=8)  # checkpoint at step 5 carries "old"
    with pytest.raises(ConfigError, match="checkpoints of a different recipe"):
        _run(tmp_path / "out", "new")
    model, result = _run(tmp_path / "out", "new", also=("old",))
    assert result.resumed_from == 5 and result.steps == 12
    for key, value in unbroken.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)
    # Checkpoints written after the resume carry the new fingerprint.
    states = sorted((tmp_path / "out" / "checkpoints").glob("step-*/state.json"))
    assert json.loads(states[-1].read_text())["fingerprint"] == "new"


def test_a_distilled_embedder_resumes_on_another_device_and_teacher_batch(tmp_path, tiny_st_path):
    """The wiring in a stage pipeline: the same run with other operational options."""
    from ragdistill.artifacts import read_manifest
    from ragdistill.distill import run_recipe
    from tests.core.tiny_beir import tiny_recipe, write_tiny_beir

    write_tiny_beir(tmp_path / "beir")
    path = tiny_recipe(tmp_path, tiny_st_path, tiny_st_path, tmp_path / "beir", extra="ab = false")
    first = read_manifest(run_recipe(path, show_progress=False))["metrics"]
    log = (tmp_path / "out" / "train_log.jsonl").read_text()
    text = path.read_text().replace("batch_size = 8\n", "batch_size = 2\ndevice = 'cpu'\n", 1)
    path.write_text(text.replace("threads = 1", "threads = 2").replace("checkpoint_every = 3",
                                                                        "checkpoint_every = 4"))  # fmt: skip
    again = read_manifest(run_recipe(path, show_progress=False))["metrics"]
    assert again["train/steps"] == first["train/steps"]
    assert (tmp_path / "out" / "train_log.jsonl").read_text() == log  # nothing trained again


def test_a_finished_run_returns_its_artifact_untouched(tmp_path, tiny_st_path, capsys, monkeypatch):
    """Re-running a finished recipe (a resumed sweep) neither evaluates nor saves again;
    a missing baseline or file, or an artifact from before manifests named their recipe,
    is run again."""
    from ragdistill.artifacts import read_manifest
    from ragdistill.distill import finished_artifact, run_recipe
    from tests.core.tiny_beir import tiny_recipe, write_tiny_beir

    write_tiny_beir(tmp_path / "beir")
    path = tiny_recipe(tmp_path, tiny_st_path, tiny_st_path, tmp_path / "beir", extra="ab = false")
    artifact = run_recipe(path, show_progress=False)
    saved = read_manifest(artifact)
    assert saved["recipe_fingerprint"] == recipe_fingerprint(load_recipe(path))
    stamp = {f: (artifact / f).stat().st_mtime_ns for f in ("ragdistill.json", *saved["files"])}

    assert run_recipe(path, show_progress=True) == artifact
    assert "already distilled" in capsys.readouterr().out
    assert {f: (artifact / f).stat().st_mtime_ns for f in stamp} == stamp
    # --processes 2 on a finished recipe starts no process group: nothing to train.
    from click.testing import CliRunner

    from ragdistill.cli import build_cli

    def no_launch(*args, **kwargs):
        raise AssertionError(f"a finished recipe launched {args}")

    monkeypatch.setattr("ragdistill.cli.distill_cmd.subprocess.run", no_launch)
    done = CliRunner().invoke(build_cli(), ["distill", "--processes", "2", str(path)])
    assert done.exit_code == 0, done.output
    assert "already distilled" in done.output and "resuming from checkpoint" not in done.output
    assert {f: (artifact / f).stat().st_mtime_ns for f in stamp} == stamp

    # A learning option changed: not this recipe's artifact.
    changed = parse_recipe({**_table(path), "train": {**_table(path)["train"], "seed": 7}})
    assert finished_artifact(changed) is None
    # The student before distillation gone while the A/B wants it: the run saves it again.
    shutil.rmtree(tmp_path / "out" / "baseline")
    assert finished_artifact(load_recipe(path)) is None
    run_recipe(path, show_progress=False)
    assert finished_artifact(load_recipe(path)) == artifact

    # An artifact saved before manifests named their recipe is saved once more, then kept.
    manifest = json.loads((artifact / "ragdistill.json").read_text())
    del manifest["recipe_fingerprint"]
    (artifact / "ragdistill.json").write_text(json.dumps(manifest))
    assert finished_artifact(load_recipe(path)) is None
    assert read_manifest(run_recipe(path, show_progress=False))["recipe_fingerprint"]
    (artifact / "model.safetensors").unlink()  # a listed file gone: not finished
    assert finished_artifact(load_recipe(path)) is None


def _table(path):
    from ragdistill.recipes import tomllib

    return tomllib.loads(path.read_text())
