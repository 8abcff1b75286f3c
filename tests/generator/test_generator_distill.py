"""Generator distillation end to end on tiny causal LMs: distill, A/B, kill -9 and resume."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ragdistill.artifacts import read_manifest
from ragdistill.errors import ConfigError
from tests.generator.tiny_squad import tiny_generator_recipe, write_tiny_squad

SLOW_TEACHER = '''
import os, time
from ragdistill.hf import CausalLMGenerator
from ragdistill.hookspecs import hookimpl


class SlowTeacher(CausalLMGenerator):
    """The tiny teacher, slowed down and logging each prompt it answers, for kill tests."""

    def generate_batch(self, requests):
        time.sleep(0.3)
        with open(os.environ["SLOW_TEACHER_LOG"], "a") as fh:
            for r in requests:
                fh.write(str(abs(hash(r.messages[-1].content))) + "\\n")
        return super().generate_batch(requests)


@hookimpl
def register_teachers(register):
    register("slow-lm", SlowTeacher)
'''


@pytest.fixture
def squad(tmp_path: Path) -> Path:
    return write_tiny_squad(tmp_path / "squad.json")


@pytest.fixture
def student_path(tiny_models_dir: Path) -> Path:
    from ragdistill.testing.tiny import tiny_causal_lm

    # Same tokenizer as the teacher, fewer and narrower layers.
    return tiny_causal_lm(tiny_models_dir / "causal-lm-student", layers=1, hidden=16)


def _recipe(tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad, **kw):
    return tiny_generator_recipe(
        tmp_path, teacher=tiny_causal_lm_path, student=student_path, retriever=tiny_st_path,
        squad=squad, **kw,
    )  # fmt: skip


def test_distill_then_ab_end_to_end(
    tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad
):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ragdistill.distill import run_recipe
    from ragdistill.recipes import load_recipe
    from ragdistill.registry import default_registry

    recipe = load_recipe(_recipe(tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad))
    artifact = run_recipe(recipe, show_progress=False)
    AutoModelForCausalLM.from_pretrained(artifact)  # loads in plain transformers
    AutoTokenizer.from_pretrained(artifact)
    manifest = read_manifest(artifact)
    assert manifest["stage"] == "generator" and manifest["loader"] == "hf-causal-lm"
    assert manifest["metrics"]["train/steps"] > 0
    labelling = json.loads((tmp_path / "out" / "labelling.json").read_text())
    assert labelling["train_rows"] + sum(labelling["dropped"].values()) == labelling[
        "train_prompts"]["prompts"]  # fmt: skip
    stage = default_registry().stage("generator")()
    report = stage.ab_for_recipe(recipe, artifact, show_progress=False)
    ab = json.loads((report.parent / "ab.json").read_text())
    assert set(ab["arms"]) == {"teacher", "student", "baseline"}
    assert len(ab["example_ids"]) >= 4
    # Every evaluated question comes from a held-out article, none trained on.
    contexts = json.loads((tmp_path / "out" / "contexts.json").read_text())["lists"]
    held = {q.split("-")[0] for q in ab["example_ids"]}
    trained = {q.split("-")[0] for q in contexts} - held
    assert trained and not held & trained
    assert "ab/f1" in read_manifest(artifact)["metrics"]
    assert "teacher" in stage.ab_summary(report)
    _loads_in_the_shims(artifact)


def _loads_in_the_shims(artifact: Path) -> None:
    """The distilled generator drops into LlamaIndex and LangChain with ``from_artifact``."""
    question = [{"role": "user", "content": "what river water?"}]
    if importlib.util.find_spec("llama_index_ragdistill"):
        from llama_index_ragdistill import RagdistillLLM

        llm = RagdistillLLM.from_artifact(artifact, max_new_tokens=4)
        assert llm.manifest["stage"] == "generator"
        assert isinstance(llm.complete("what river water?").text, str)
    if importlib.util.find_spec("langchain_ragdistill"):
        from langchain_ragdistill import ChatRagdistill

        chat = ChatRagdistill.from_artifact(artifact, max_tokens=4)
        assert chat.manifest["stage"] == "generator"
        assert isinstance(chat.invoke(question).content, str)


def test_token_level_kd_on_a_shared_tokenizer(
    tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad
):
    from ragdistill.distill import run_recipe
    from ragdistill.recipes import load_recipe

    path = _recipe(
        tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad,
        losses='[[losses]]\nname = "token-kd"\ntemperature = 2.0\n\n[[losses]]\nname = "gjsd"\nweight = 0.5\n',
        generator="top_logprobs = 4", evaluate="ab = false",
    )  # fmt: skip
    artifact = run_recipe(load_recipe(path), show_progress=False)
    labelling = json.loads((tmp_path / "out" / "labelling.json").read_text())
    assert labelling["train_rows"] > 2 and labelling["dropped"]["unaligned_logprobs"] == 0
    log = [json.loads(x) for x in (tmp_path / "out" / "train_log.jsonl").read_text().splitlines()]
    assert {"loss/token-kd", "loss/gjsd"} <= set(log[0])
    assert read_manifest(artifact)["stage"] == "generator"


def test_logit_losses_need_top_logprobs(
    tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad
):
    from ragdistill.recipes import load_recipe

    path = _recipe(tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad,
                   losses='[[losses]]\nname = "token-kd"\n')  # fmt: skip
    with pytest.raises(ConfigError, match=r"top_logprobs = 20.*sequence-kd"):
        load_recipe(path)


def test_logit_losses_across_tokenizers_are_refused(
    tmp_path, tiny_causal_lm_path, tiny_st_path, squad
):
    from ragdistill.recipes import load_recipe

    other = tmp_path / "other-lm"
    from shutil import copytree

    copytree(tiny_causal_lm_path, other)
    tok = json.loads((other / "tokenizer.json").read_text())
    tok["model"]["vocab"]["zzzz"] = len(tok["model"]["vocab"]) + 100
    (other / "tokenizer.json").write_text(json.dumps(tok))
    path = _recipe(tmp_path, tiny_causal_lm_path, other, tiny_st_path, squad,
                   losses='[[losses]]\nname = "reverse-kl"\n', generator="top_logprobs = 4")  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"teacher's \(.*\) and the student's \(.*\) differ.*sequence-kd"
    ):
        load_recipe(path)


def test_kill_9_during_labelling_and_training_then_resume(
    tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad
):
    plugin_root = tmp_path / "plugin"
    plugin_root.mkdir()
    (plugin_root / "rd_slow_lm.py").write_text(textwrap.dedent(SLOW_TEACHER))
    info = plugin_root / "rd_slow_lm-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rd-slow-lm\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ragdistill]\nslow = rd_slow_lm\n")
    log = tmp_path / "teacher.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(plugin_root), os.environ.get("PYTHONPATH", "")]),
        "SLOW_TEACHER_LOG": str(log),
        "PYTHONHASHSEED": "0",
    }
    recipe = _recipe(tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad,
                     teacher_kind="slow-lm", evaluate="ab = false")  # fmt: skip
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ragdistill", "distill", str(recipe), "-q"]

    # 1. kill -9 while the teacher answers (batches of 4 prompts)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for(lambda: log.exists() and len(log.read_text().split()) >= 8, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "student").exists()
    asked_once = log.read_text().split()

    # 2. kill -9 while training (once a checkpoint exists, before the end)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for(lambda: any((out / "checkpoints").glob("step-*/state.json")), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    asked = log.read_text().split()
    # Only a batch in flight at the kill may be asked again; every committed one is reused.
    repeated = [p for p in set(asked) if asked.count(p) > 1]
    assert len(repeated) <= 4, repeated
    # (Under load the first run may have finished labelling before the kill landed.)
    assert len(asked) >= len(asked_once)
    assert not (out / "student").exists()

    # 3. run to the end: resumes from the checkpoint and asks the teacher nothing
    checkpoint = max(p.name for p in (out / "checkpoints").glob("step-*"))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming from checkpoint {checkpoint}" in done.stdout
    assert log.read_text().split() == asked
    labelling = json.loads((out / "labelling.json").read_text())
    assert labelling["teacher"]["computed"] == 0
    steps = [json.loads(x)["step"] for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, read_manifest(out / "student")["metrics"]["train/steps"] + 1))


def _wait_for(condition, proc, timeout=180.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.stderr.read().decode()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the process")
        time.sleep(0.02)


def test_rationales_are_a_second_target_and_unparsable_ones_are_counted(
    tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad
):
    from ragdistill.distill import run_recipe
    from ragdistill.recipes import load_recipe

    path = _recipe(tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad,
                   generator="rationale = true\nrationale_max_new_tokens = 12",
                   evaluate="ab = false")  # fmt: skip
    run_recipe(load_recipe(path), show_progress=False)
    labelling = json.loads((tmp_path / "out" / "labelling.json").read_text())
    made = labelling["rationale"]
    # A random tiny teacher writes no "Reasoning: ... Answer: ..." form: all unparsable.
    assert made["rationales"] + made["unparsable"] == labelling["train_prompts"]["prompts"]
    assert labelling["train_rows"] == made["rationales"] + labelling["train_prompts"]["prompts"]


def test_rationale_with_logit_losses_is_refused(
    tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad
):
    from ragdistill.recipes import load_recipe

    path = _recipe(tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad,
                   losses='[[losses]]\nname = "token-kd"\n',
                   generator="top_logprobs = 4\nrationale = true")  # fmt: skip
    with pytest.raises(ConfigError, match=r"rationale = true.*sequence-kd"):
        load_recipe(path)


def test_ab_generator_command_needs_no_recipe(
    tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad
):
    from click.testing import CliRunner

    from ragdistill.cli import build_cli

    out = tmp_path / "ab"
    result = CliRunner().invoke(build_cli(), [
        "ab", "generator", "--teacher", f"hf-causal-lm:{tiny_causal_lm_path}",
        "--student", str(student_path), "--retriever", str(tiny_st_path),
        "--dataset", "squad", "--data-path", str(squad), "--data-option", "eval_articles=2",
        "--max-questions", "5", "--max-new-tokens", "4", "--latency-queries", "1",
        "--n-bootstrap", "100", "--unanswerable", "0.3", "--out", str(out), "-q",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    ab = json.loads((out / "ab.json").read_text())
    assert set(ab["arms"]) == {"teacher", "student"} and len(ab["example_ids"]) == 5
    assert (out / "report.html").is_file() and "student vs teacher" in result.output
    # A second run reuses every stored answer.
    again = CliRunner().invoke(build_cli(), [
        "ab", "generator", "--teacher", f"hf-causal-lm:{tiny_causal_lm_path}",
        "--student", str(student_path), "--retriever", str(tiny_st_path),
        "--dataset", "squad", "--data-path", str(squad), "--data-option", "eval_articles=2",
        "--max-questions", "5", "--max-new-tokens", "4", "--latency-queries", "1",
        "--n-bootstrap", "100", "--unanswerable", "0.3", "--out", str(out), "-q",
    ])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads((out / "ab.json").read_text())["arms"]["student"]["metrics"] == ab["arms"][
        "student"]["metrics"]  # fmt: skip


def test_synthetic_questions_are_written_by_the_teacher_and_filtered(
    tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad
):
    from ragdistill.distill import run_recipe
    from ragdistill.generation.store import GenerationStore
    from ragdistill.recipes import load_recipe

    path = _recipe(tmp_path, tiny_causal_lm_path, student_path, tiny_st_path, squad,
                   generator="top_logprobs = 2\n\n[generator.synthetic]\nenabled = true\n"
                             "passages = 6\nevaluate = false",
                   evaluate="ab = false")  # fmt: skip
    run_recipe(load_recipe(path), show_progress=False)
    labelling = json.loads((tmp_path / "out" / "labelling.json").read_text())
    # A random tiny teacher writes no "...?" question: every one is dropped and counted.
    assert labelling["synthetic"]["questions"] + labelling["synthetic"]["empty"] == 6
    # The questions are kept without log-probs, where any recipe of this teacher finds them.
    stores = {p.name.rsplit("-k", 1)[1]: p for p in (tmp_path / "cache" / "generations").iterdir()}
    assert set(stores) == {"0", "2"}
    assert len(GenerationStore(stores["0"], 0)) == 6
