"""Training on accelerate (#17 item 1): several CPU processes over gloo, gradient
accumulation, mixed precision refused on a CPU, and recipes that keep their fingerprint.

The data-parallel workers are real processes started by ``accelerate launch``: this file
run as a script trains the ``Line`` student of the callback tests (see the bottom).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ragdistill.artifacts import read_manifest
from ragdistill.distill.accelerated import shard
from ragdistill.distill.loop import train
from ragdistill.errors import ConfigError
from ragdistill.recipes.schema import TrainSpec
from tests.core.test_training_callbacks import INPUTS, MSE, TARGETS, Line
from tests.core.tiny_beir import tiny_recipe, write_tiny_beir

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def line_run(output: Path, spec: TrainSpec, *, processes: bool = False) -> dict[str, torch.Tensor]:
    """Train ``Line`` to y = 2x + 1; the final checkpoint's weights."""
    from ragdistill.distill.accelerated import processes as join

    train(seeded_line(), MSE(), INPUTS, lambda idx: TARGETS[idx], spec, output=output,
          fingerprint="fp", show_progress=False,
          processes=join("cpu") if processes else None)  # fmt: skip
    if processes:
        return {}  # the main process may still be writing the final checkpoint
    return final_weights(output)


def seeded_line() -> Line:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return Line()


def final_weights(output: Path) -> dict[str, torch.Tensor]:
    return load_file(sorted((output / "checkpoints").glob("step-*"))[-1] / "model.safetensors")


LINE_SPEC = {
    "epochs": 5,
    "batch_size": 4,
    "max_steps": 6,
    "checkpoint_every": 3,
    "learning_rate": 0.05,
}


def test_two_processes_take_the_steps_one_process_takes(tmp_path):
    """Each process trains on half of every batch; the all-reduced gradient is the whole
    batch's, so two processes end where one does."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
              "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
              "--dynamo_backend", "no", "--main_process_port", str(_port()),
              __file__, str(tmp_path / "two")]  # fmt: skip
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(ROOT), ENV.get("PYTHONPATH", "")])}
    done = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    one = line_run(tmp_path / "one", TrainSpec(**LINE_SPEC))
    two = final_weights(tmp_path / "two")
    assert one.keys() == two.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-5, atol=1e-6)
    # Only the main process wrote: one log, each step once, the loss the mean of both halves.
    log = [json.loads(x) for x in (tmp_path / "two" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    alone = (tmp_path / "one" / "train_log.jsonl").read_text().splitlines()
    assert [r["loss"] for r in log] == pytest.approx([json.loads(x)["loss"] for x in alone])
    state = json.loads(
        (sorted((tmp_path / "two" / "checkpoints").glob("step-*"))[-1] / "state.json").read_text()
    )
    assert len(state["process_rng"]) == 2  # each process resumes its own dropout draws


def test_gradient_accumulation_adds_up_to_the_larger_batch(tmp_path):
    """Two accumulated batches of 2 make the step one batch of 4 makes (an MSE mean)."""
    big = line_run(tmp_path / "big", TrainSpec(**LINE_SPEC))
    spec = TrainSpec(**{**LINE_SPEC, "batch_size": 2, "gradient_accumulation_steps": 2})
    accumulated = line_run(tmp_path / "accumulated", spec)
    for name in big:
        torch.testing.assert_close(accumulated[name], big[name], rtol=1e-5, atol=1e-6)
    log = (tmp_path / "accumulated" / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in log] == [1, 2, 3, 4, 5, 6]  # optimizer steps


def test_an_accumulating_run_resumes_exactly(tmp_path):
    spec = TrainSpec(**{**LINE_SPEC, "batch_size": 2, "gradient_accumulation_steps": 3})
    unbroken = line_run(tmp_path / "a", spec)
    calls: list[list[int]] = []

    def dies_in_step_5(idx: list[int]) -> torch.Tensor:
        calls.append(idx)
        if len(calls) == 13:  # the first batch of step 5, after the step-3 checkpoint
            raise RuntimeError("killed")
        return TARGETS[idx]

    with pytest.raises(RuntimeError, match="killed"):
        train(seeded_line(), MSE(), INPUTS, dies_in_step_5, spec, output=tmp_path / "b",
              fingerprint="fp", show_progress=False)  # fmt: skip
    resumed = line_run(tmp_path / "b", spec)
    for name in unbroken:
        torch.testing.assert_close(resumed[name], unbroken[name], rtol=0, atol=0)


def test_mixed_precision_on_a_cpu_is_refused(tmp_path):
    spec = TrainSpec(**LINE_SPEC, mixed_precision="bf16")
    with pytest.raises(ConfigError, match=r"mixed_precision = 'bf16' needs a GPU.*\"no\""):
        line_run(tmp_path, spec)


def test_a_launched_run_needs_a_pipeline_that_runs_in_several_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="trains in one process only"):
        line_run(tmp_path, TrainSpec(**LINE_SPEC))


def test_shards_cover_the_batch_and_never_leave_a_process_one_input():
    batch = list(range(9))
    assert [shard(batch, i, 2) for i in range(2)] == [[0, 1, 2, 3, 4], [5, 6, 7, 8]]
    assert [shard(batch, i, 4) for i in range(4)] == [[0, 1, 2], [3, 4], [5, 6], [7, 8]]
    assert shard([0, 1, 2], 1, 2) == [0, 1, 2]  # halves of 1 and 2: all take the batch


def test_the_new_train_options_leave_old_recipes_their_fingerprint(tmp_path):
    from ragdistill.recipes import load_recipe, parse_recipe, recipe_fingerprint
    from tests.core.test_recipes import GOOD, write

    base = load_recipe(write(tmp_path, GOOD))
    data = base.model_dump(mode="json")
    assert not {"gradient_accumulation_steps", "mixed_precision"} & set(data["train"])

    def with_train(**options: object) -> str:
        return recipe_fingerprint(parse_recipe({**data, "train": {**data["train"], **options}}))

    assert with_train(gradient_accumulation_steps=1, mixed_precision="no") == recipe_fingerprint(
        base
    )
    assert with_train(gradient_accumulation_steps=2) != recipe_fingerprint(base)
    assert with_train(mixed_precision="bf16") != recipe_fingerprint(base)
    with pytest.raises(ConfigError, match="mixed_precision"):
        with_train(mixed_precision="fp8")
    with pytest.raises(ConfigError, match="gradient_accumulation_steps"):
        with_train(gradient_accumulation_steps=0)


def test_distill_with_two_processes_writes_one_loadable_artifact(tmp_path, tiny_st_path):
    """``ragdistill distill --processes 2``: two CPU processes over gloo, one artifact."""
    from sentence_transformers import SentenceTransformer

    from ragdistill.loading import load_component

    write_tiny_beir(tmp_path / "beir")
    recipe = tiny_recipe(
        tmp_path, tiny_st_path, tiny_st_path, tmp_path / "beir", extra="ab = false"
    )
    cmd = [sys.executable, "-m", "ragdistill", "distill", "--processes", "2", "-q", str(recipe)]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "out"
    assert done.stdout.count("student artifact:") == 1  # the main process alone reports
    artifact = out / "student"
    assert SentenceTransformer(str(artifact)).encode(["a fee refund"]).shape == (1, 16)
    assert load_component(artifact).embed_many(["a fee refund"]).shape == (1, 16)
    metrics = read_manifest(artifact)["metrics"]
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(metrics["train/steps"] + 1))
    # The loss falls: the first epoch's mean against the last's (one step's in-batch loss
    # swings with the batch drawn; 4 texts a process here).
    first, last = (np.mean([r["loss"] for r in log[1:] if r["epoch"] == e]) for e in (0, 2))
    assert last < first
    labelling = json.loads((out / "labelling.json").read_text())
    assert labelling["document"] == {"total": 60, "computed": 60, "reused": 0}
    assert labelling["query"]["computed"] == labelling["query"]["total"] > 0


def _port() -> int:
    from ragdistill.distill.accelerated import free_port

    return free_port()


if __name__ == "__main__":  # one data-parallel worker of the first test
    from ragdistill.cli.distill_cmd import _leave_group

    line_run(Path(sys.argv[1]), TrainSpec(**LINE_SPEC), processes=True)
    # As `ragdistill distill` does: a gloo group left open at exit can abort the process.
    _leave_group()
