"""Sharded teacher labelling (#17 item 2): under ``ragdistill distill --processes 2`` each
process labels its share into the one teacher cache. One process is killed midway; the
rerun asks the teacher only for what no process committed, and every cached vector is
the one a single process labels."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ragdistill.teacher_cache import content_key
from tests.core.tiny_beir import tiny_recipe, write_tiny_beir

RECORDING_TEACHER = '''
import json, os, time
from ragdistill.stages.embedder.components import SentenceTransformerEmbedder
from ragdistill.hookspecs import hookimpl


class RecordingTeacher(SentenceTransformerEmbedder):
    """The tiny teacher, slowed down, appending each text it embeds (and its process)."""

    def embed_batch(self, texts, *, input_type="document"):
        time.sleep(0.3)
        out = super().embed_batch(texts, input_type=input_type)
        with open(os.environ["RECORDING_TEACHER_LOG"], "a") as fh:
            for text in texts:
                fh.write(json.dumps([os.getpid(), input_type, text]) + "\\n")
        return out


@hookimpl
def register_teachers(register):
    register("recording-teacher", RecordingTeacher)
'''


def asked(log: Path) -> list[tuple[int, str]]:
    """(process id, cache key) of every text the teacher embedded, in order."""
    if not log.exists():
        return []
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return [(pid, content_key(kind, text)) for pid, kind, text in rows]


def cached_keys(cache: Path) -> set[str]:
    [index] = cache.glob("*/index.sqlite")
    with sqlite3.connect(index) as db:
        return {key for (key,) in db.execute("SELECT key FROM rows")}


def test_two_labelling_processes_one_killed_then_a_rerun_labels_only_the_rest(
    tmp_path, tiny_st_path
):
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "rd_recording_teacher.py").write_text(textwrap.dedent(RECORDING_TEACHER))
    info = plugin / "rd_recording_teacher-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rd-recording\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ragdistill]\nrecording = rd_recording_teacher\n")
    log = tmp_path / "teacher.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(plugin), os.environ.get("PYTHONPATH", "")]),
        "RECORDING_TEACHER_LOG": str(log),
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    data = write_tiny_beir(tmp_path / "beir")
    recipe = tiny_recipe(tmp_path, tiny_st_path, tiny_st_path, data,
                         teacher_kind="recording-teacher", extra="ab = false")  # fmt: skip
    recipe.write_text(recipe.read_text().replace("epochs = 3", "epochs = 1"))
    cmd = [sys.executable, "-m", "ragdistill", "distill", "--processes", "2", "-q", str(recipe)]

    # 1. Both processes label; one is killed (SIGKILL) once it has labelled two batches.
    run = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while True:
        per_process = Counter(pid for pid, _ in asked(log))
        if len(per_process) == 2 and max(per_process.values()) >= 16:
            break
        assert run.poll() is None, run.stderr.read().decode()[-3000:] if run.stderr else ""
        assert time.monotonic() < deadline, "the processes never both labelled"
        time.sleep(0.02)
    victim = max(per_process, key=lambda pid: per_process[pid])
    os.kill(victim, signal.SIGKILL)
    assert run.wait(timeout=120) != 0  # the launcher stops the other process too
    assert not (tmp_path / "out" / "student").exists()
    before = cached_keys(tmp_path / "cache")
    first_run = asked(log)
    assert before and {pid for pid, _ in first_run} == set(per_process)

    # 2. The rerun asks the teacher for exactly what is missing, each text once.
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rerun = [key for _, key in asked(log)[len(first_run) :]]
    after = cached_keys(tmp_path / "cache")
    assert len(rerun) == len(set(rerun))  # no text asked twice (disjoint shares)
    assert set(rerun) == after - before  # only (and all of) what no process had committed
    assert len({pid for pid, _ in asked(log)[len(first_run) :]}) >= 2  # both labelled
    labelling = json.loads((tmp_path / "out" / "labelling.json").read_text())
    computed = labelling["document"]["computed"] + labelling["query"]["computed"]
    assert 0 < computed <= len(rerun)  # the rest: held-out queries the evaluator embeds
    assert labelling["document"]["total"] == 60
    assert (tmp_path / "out" / "student" / "model.safetensors").is_file()

    # 3. Every vector is the one a single process labels, and no row is orphaned.
    check_against_one_process(tmp_path / "cache", tiny_st_path, data, after)


def check_against_one_process(cache: Path, teacher: Path, data: Path, keys: set[str]) -> None:
    from ragdistill.data import BeirDataset
    from ragdistill.distill.cached_teacher import CachedEmbedder
    from ragdistill.stages.embedder.components import SentenceTransformerEmbedder
    from ragdistill.stages.embedder.pipeline import plan_texts
    from ragdistill.teacher_cache import TeacherCache, embedding_keys

    dataset = BeirDataset(path=data).load()
    plan = plan_texts(dataset, max_texts=None, seed=42)
    single = CachedEmbedder(
        SentenceTransformerEmbedder(model=str(teacher), batch_size=8),
        root=cache.parent / "single",
    )
    [folder] = [p.parent for p in cache.glob("*/index.sqlite")]
    sharded = TeacherCache.open(folder.name, dim=single.dimension, root=cache)
    assert sharded.committed == len(keys)  # each key stored once
    assert (folder / "vectors.f32").stat().st_size == len(keys) * single.dimension * 4
    for kind in ("document", "query"):
        texts = plan.of_type(kind)  # type: ignore[arg-type]
        single.fill(texts, kind, show_progress=False)  # type: ignore[arg-type]
        wanted = embedding_keys(texts, kind)
        assert set(wanted) <= keys
        np.testing.assert_allclose(
            sharded.get(wanted), single.cache.get(wanted), rtol=1e-4, atol=1e-5
        )
