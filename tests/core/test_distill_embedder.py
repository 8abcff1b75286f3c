"""Embedder distillation end to end on tiny models, including kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from ragdistill.artifacts import read_manifest
from ragdistill.distill.loop import steps_per_epoch
from ragdistill.errors import ChecksumError
from ragdistill.loading import load_component
from tests.core.tiny_beir import tiny_recipe, write_tiny_beir

SLOW_TEACHER = '''
import os, time
from ragdistill.stages.embedder.components import SentenceTransformerEmbedder
from ragdistill.hookspecs import hookimpl


class SlowTeacher(SentenceTransformerEmbedder):
    """The tiny teacher, slowed down and counting the texts it embeds, for kill tests."""

    def embed_batch(self, texts, *, input_type="document"):
        time.sleep(0.15)
        with open(os.environ["SLOW_TEACHER_LOG"], "a") as fh:
            fh.write(f"{len(texts)}\\n")
        return super().embed_batch(texts, input_type=input_type)


@hookimpl
def register_teachers(register):
    register("slow-teacher", SlowTeacher)
'''


@pytest.fixture
def workdir(tmp_path, tiny_st_path):
    write_tiny_beir(tmp_path / "beir")
    return tmp_path


def test_distill_then_ab_writes_a_loadable_artifact_and_report(workdir, tiny_st_path):
    from ragdistill.distill import run_recipe
    from ragdistill.recipes import load_recipe
    from ragdistill.stages.embedder.evaluate import ab_for_recipe

    recipe = load_recipe(tiny_recipe(workdir, tiny_st_path, tiny_st_path, workdir / "beir"))
    artifact = run_recipe(recipe, show_progress=False)
    from sentence_transformers import SentenceTransformer

    plain = SentenceTransformer(str(artifact))  # loads in the plain library
    assert plain.encode(["a fee refund"]).shape == (1, 16)
    manifest = read_manifest(artifact)
    assert manifest["stage"] == "embedder" and manifest["loader"] == "sentence-transformers"
    assert manifest["teacher"]["options"]["model"] == str(tiny_st_path)
    assert manifest["data_fingerprint"] and "model.safetensors" in manifest["files"]
    metrics = manifest["metrics"]
    assert metrics["train/steps"] == 3 * steps_per_epoch(metrics["train/texts"], 8)
    component = load_component(artifact)
    np.testing.assert_allclose(
        component.embed(["x"][0]), plain.encode("x", normalize_embeddings=True), atol=1e-5
    )

    report = ab_for_recipe(recipe, artifact, show_progress=False)
    data = json.loads((report.parent / "ab.json").read_text())
    # The pruned, projected student is also compared with its starting model as it was.
    reference = tiny_st_path.name
    assert set(data["arms"]) == {"teacher", "student", "baseline", reference}
    assert data["arms"][reference]["role"] == "reference"
    assert "<img" in report.read_text()
    assert "ab/ndcg@10" in read_manifest(artifact)["metrics"]


def test_the_baseline_student_is_saved_with_a_manifest(workdir, tiny_st_path):
    """The A/B's "before" arm loads through its manifest's loader, like the artifact."""
    from ragdistill.artifacts import MANIFEST_NAME
    from ragdistill.distill import run_recipe

    path = tiny_recipe(workdir, tiny_st_path, tiny_st_path, workdir / "beir", extra="ab = false")
    path.write_text(path.read_text().replace("epochs = 3", "epochs = 1\nmax_steps = 2"))
    run_recipe(path, show_progress=False)
    baseline = workdir / "out" / "baseline"
    manifest = read_manifest(baseline)
    assert (manifest["stage"], manifest["loader"]) == ("embedder", "sentence-transformers")
    assert manifest["student"]["options"]["keep_layers"] == [0]
    assert load_component(baseline, "embedder").embed_many(["a fee refund"]).shape == (1, 16)
    # A baseline saved before baselines had manifests gets one when the run resumes. That
    # release's artifact manifest did not name its recipe either, so the run is not skipped.
    (baseline / MANIFEST_NAME).unlink()
    artifact = workdir / "out" / "student" / MANIFEST_NAME
    artifact.write_text(
        json.dumps({**json.loads(artifact.read_text()), "recipe_fingerprint": None})
    )
    run_recipe(path, show_progress=False)
    assert read_manifest(baseline)["loader"] == "sentence-transformers"


def test_teacher_paired_batches_train_every_text_once_an_epoch(workdir, tiny_st_path):
    from ragdistill.distill import run_recipe
    from ragdistill.recipes import load_recipe

    path = tiny_recipe(workdir, tiny_st_path, tiny_st_path, workdir / "beir")
    path.write_text(path.read_text() + "\n[embedder]\nteacher_pairs = true\n")
    recipe = load_recipe(path)
    assert recipe.stage_options == {"teacher_pairs": True}
    metrics = read_manifest(run_recipe(recipe, show_progress=False))["metrics"]
    assert metrics["train/steps"] == 3 * steps_per_epoch(metrics["train/texts"], 8)
    assert np.isfinite(metrics["train/final_loss"])


def test_corrupted_artifact_is_refused(workdir, tiny_st_path):
    from ragdistill.distill import run_recipe

    recipe = tiny_recipe(workdir, tiny_st_path, tiny_st_path, workdir / "beir")
    artifact = run_recipe(recipe, show_progress=False)
    with open(artifact / "model.safetensors", "r+b") as fh:
        fh.seek(200)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(ChecksumError, match=r"model\.safetensors does not match its manifest"):
        load_component(artifact)


def test_kill_9_during_labelling_and_training_then_resume(workdir, tiny_st_path):
    plugin_root = workdir / "plugin"
    plugin_root.mkdir()
    (plugin_root / "rd_slow_teacher.py").write_text(textwrap.dedent(SLOW_TEACHER))
    info = plugin_root / "rd_slow_teacher-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rd-slow-teacher\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ragdistill]\nslow = rd_slow_teacher\n")
    log = workdir / "teacher.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(plugin_root), os.environ.get("PYTHONPATH", "")]),
        "SLOW_TEACHER_LOG": str(log),
    }
    recipe = tiny_recipe(
        workdir,
        tiny_st_path,
        tiny_st_path,
        workdir / "beir",
        teacher_kind="slow-teacher",
        extra="ab = false",
    )
    out = workdir / "out"
    cmd = [sys.executable, "-m", "ragdistill", "distill", str(recipe), "-q"]

    # 1. kill -9 while the teacher labels (a dimension probe, then batches of 8)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for(lambda: log.exists() and len(log.read_text().split()) >= 4, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "student").exists()

    # 2. kill -9 while training (once a checkpoint exists, before the end)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for(lambda: any((out / "checkpoints").glob("step-*/state.json")), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    labelling = json.loads((out / "labelling.json").read_text())
    assert labelling["document"]["reused"] >= 16  # what run 1 labelled was not recomputed
    assert not (out / "student").exists()

    # 3. run to the end: resumes from the checkpoint, recomputes no teacher output
    checkpoint = max(p.name for p in (out / "checkpoints").glob("step-*"))
    teacher_calls = log.read_text()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming from checkpoint {checkpoint}" in done.stdout
    assert log.read_text() == teacher_calls  # the last run asked the teacher for nothing
    labelling = json.loads((out / "labelling.json").read_text())
    assert labelling["document"]["computed"] == 0 and labelling["query"]["computed"] == 0
    steps = [
        json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()
    ]
    metrics = read_manifest(out / "student")["metrics"]
    assert metrics["train/steps"] == 3 * steps_per_epoch(metrics["train/texts"], 8)
    assert steps == list(range(metrics["train/steps"] + 1))  # the start, each step once


def _wait_for(condition, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the process")
        time.sleep(0.02)
