"""Query-transformer distillation survives kill -9: during the teacher's labelling and
during training, ``ragdistill distill`` resumes without asking the teacher again for
anything it already stored, and from the last checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from ragdistill.artifacts import read_manifest
from tests.generator.tiny_squad import write_tiny_squad
from tests.query_transformer.tiny_query import tiny_query_recipe

REPO = Path(__file__).resolve().parents[2]

SLOW_RULE_TEACHER = '''
import hashlib, os, time

from ragdistill.hookspecs import hookimpl
from tests.query_transformer.rule_teacher import RuleGenerator, RuleQueryTransformer


class SlowGenerator(RuleGenerator):
    """The rule teacher's generator, slowed down, logging each prompt it answers."""

    batch_size = 4

    def generate_batch(self, requests):
        time.sleep(0.3)
        with open(os.environ["SLOW_RULE_TEACHER_LOG"], "a") as fh:
            for r in requests:
                fh.write(hashlib.sha1(r.messages[-1].content.encode()).hexdigest() + "\\n")
        return super().generate_batch(requests)


class SlowRuleTeacher(RuleQueryTransformer):
    def __init__(self, model="rule-teacher", **options):
        super().__init__(model, **options)
        self.generator = SlowGenerator()


@hookimpl
def register_teachers(register):
    register("slow-rule-llm", SlowRuleTeacher)
'''


def _install_plugin(root: Path) -> Path:
    """The slow teacher as an installed distribution: a module and its dist-info."""
    root.mkdir()
    (root / "rd_slow_query.py").write_text(textwrap.dedent(SLOW_RULE_TEACHER))
    info = root / "rd_slow_query-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rd-slow-query\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ragdistill]\nslow-query = rd_slow_query\n")
    return root


def test_kill_9_during_labelling_and_training_then_resume(
    tmp_path, tiny_causal_lm_path, tiny_st_path
):
    plugin_root = _install_plugin(tmp_path / "plugin")
    log = tmp_path / "teacher.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(plugin_root), str(REPO), os.environ.get("PYTHONPATH", "")]
        ),
        "SLOW_RULE_TEACHER_LOG": str(log),
    }
    squad = write_tiny_squad(tmp_path / "squad.json", questions=3, names=True)
    recipe = tiny_query_recipe(tmp_path, student=tiny_causal_lm_path, retriever=tiny_st_path,
                               squad=squad, teacher_kind="slow-rule-llm",
                               evaluate="ab = false")  # fmt: skip
    # More steps (4 per epoch, a checkpoint every 2): room to land a kill mid-training.
    recipe.write_text(recipe.read_text().replace("epochs = 2", "epochs = 6"))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ragdistill", "distill", str(recipe), "-q"]

    # 1. kill -9 while the teacher answers (batches of 4 prompts, 0.3 s each)
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    _wait_for(lambda: log.exists() and len(log.read_text().split()) >= 8, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "student").exists()
    asked_once = log.read_text().split()

    # 2. kill -9 while training (once a checkpoint exists, before the end)
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    _wait_for(lambda: any((out / "checkpoints").glob("step-*/state.json")), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "student").exists()
    asked = log.read_text().split()
    # Only the batch in flight at the first kill may be asked again; every committed
    # answer (follow-ups and transforms alike) is reused.
    repeated = [p for p in set(asked) if asked.count(p) > 1]
    assert len(repeated) <= 4, repeated
    assert all(asked.count(p) <= 2 for p in repeated)
    # (Under load the first run may have got further than 8 prompts before the kill.)
    assert len(asked) > len(asked_once)
    labelling = json.loads((out / "labelling.json").read_text())
    stats = labelling.get("data", labelling.get("follow_ups")) or {}
    # every follow-up and every transform the run needed was asked for exactly once or twice
    assert len(set(asked)) == stats["candidates"] - stats["nothing_to_refer_to"] + (
        labelling["train_examples"] + labelling["eval_examples"])  # fmt: skip

    # 3. run to the end: resumes from the checkpoint and asks the teacher nothing
    checkpoint = max(p.name for p in (out / "checkpoints").glob("step-*"))
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming from checkpoint {checkpoint}" in done.stdout
    assert log.read_text().split() == asked
    manifest = read_manifest(out / "student")
    assert manifest["stage"] == "query_transformer" and manifest["loader"] == "hf-llm"
    assert manifest["load_options"]["task"] == "rewrite"
    assert manifest["teacher"]["class"].endswith("SlowRuleTeacher")
    steps = [json.loads(x)["step"] for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, manifest["metrics"]["train/steps"] + 1))
    assert (out / "baseline").is_dir()


def _wait_for(condition, proc, timeout=180.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.stderr.read().decode()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the process")
        time.sleep(0.02)
