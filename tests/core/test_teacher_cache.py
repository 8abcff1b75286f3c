"""The teacher-output cache: reuse, order, and survival of kill -9 at any point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from ragdistill.errors import ConfigError
from ragdistill.teacher_cache import TeacherCache, content_key, embedding_keys


def vectors_for(keys, dim=8):
    """A deterministic 'teacher': each key's vector derives from its hash."""
    return np.stack(
        [np.frombuffer(bytes.fromhex(k[: dim * 8]), dtype=np.uint32)[:dim] / 2**32 for k in keys]
    ).astype(np.float32)


def test_fill_computes_each_key_once_and_returns_in_order(tmp_path):
    cache = TeacherCache.open("t1", dim=8, root=tmp_path)
    keys = embedding_keys([f"text {i}" for i in range(10)], "document")
    calls = []

    def compute(idx):
        calls.append(list(idx))
        return vectors_for([keys[i] for i in idx])

    stats = cache.fill(keys + keys[:3], lambda idx: compute(idx), batch_size=4, show_progress=False)
    assert (stats.total, stats.computed, stats.reused) == (10, 10, 0)
    assert sorted(i for c in calls for i in c) == list(range(10))
    again = cache.fill(keys, compute, batch_size=4, show_progress=False)
    assert (again.computed, again.reused) == (0, 10)
    np.testing.assert_array_equal(cache.get(keys[::-1]), vectors_for(keys[::-1]))


def test_keys_separate_input_types_and_pairs():
    assert embedding_keys(["a"], "query") != embedding_keys(["a"], "document")
    assert content_key("ab", "c") != content_key("a", "bc")


def test_dimension_change_is_refused(tmp_path):
    TeacherCache.open("t", dim=8, root=tmp_path)
    with pytest.raises(ConfigError, match="8-d outputs but the teacher now gives 4-d"):
        TeacherCache.open("t", dim=4, root=tmp_path)


def test_missing_key_is_a_clear_error(tmp_path):
    cache = TeacherCache.open("t", dim=8, root=tmp_path)
    with pytest.raises(KeyError, match="not cached"):
        cache.get([content_key("never")])


def test_uncommitted_rows_from_a_crash_are_dropped(tmp_path):
    cache = TeacherCache.open("t", dim=8, root=tmp_path)
    keys = embedding_keys(["a", "b"], "document")
    cache.put(keys[:1], vectors_for(keys[:1]))
    with open(tmp_path / "t" / "vectors.f32", "ab") as fh:  # a batch written, never committed
        fh.write(b"\x00" * 32 * 3)
    cache.close()
    reopened = TeacherCache.open("t", dim=8, root=tmp_path)
    assert (tmp_path / "t" / "vectors.f32").stat().st_size == 32
    reopened.put(keys[1:], vectors_for(keys[1:]))
    np.testing.assert_array_equal(reopened.get(keys), vectors_for(keys))


WORKER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_teacher_cache import vectors_for
    from ragdistill.teacher_cache import TeacherCache, embedding_keys

    keys = embedding_keys([f"text {{i}}" for i in range(200)], "document")
    cache = TeacherCache.open("kill", dim=8, root={root!r})
    computed = 0

    def compute(idx):
        global computed
        time.sleep(0.02)
        computed += len(idx)
        print("batch", flush=True)
        return vectors_for([keys[i] for i in idx])

    stats = cache.fill(keys, compute, batch_size=5, show_progress=False)
    print("done", stats.computed, stats.reused, flush=True)
    """
)


def test_kill_9_during_labelling_then_resume(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(tests=os.path.dirname(__file__), root=str(tmp_path)))
    for kill_after in (3, 11, 17):  # kill at several points, each run resumes the last
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
        for _ in range(kill_after):
            assert proc.stdout.readline().startswith("batch")
        time.sleep((kill_after % 3) * 0.007)  # land the kill at different moments of a batch
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done_before = len(TeacherCache.open("kill", dim=8, root=tmp_path))
    assert done_before >= 5 * (3 + 11 + 17) - 15  # every finished batch survived
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    _, computed, reused = out.stdout.strip().splitlines()[-1].split()
    assert int(reused) == done_before and int(computed) == 200 - done_before
    keys = embedding_keys([f"text {i}" for i in range(200)], "document")
    np.testing.assert_array_equal(
        TeacherCache.open("kill", dim=8, root=tmp_path).get(keys), vectors_for(keys)
    )


def test_operational_options_do_not_change_the_teacher_id():
    from ragdistill.teacher_cache import fingerprint

    base = {"class": "x.Teacher", "options": {"model": "m", "batch_size": 16, "device": "cpu"}}
    other = {"class": "x.Teacher", "options": {"model": "m", "batch_size": 64, "device": "cuda"}}
    changed = {"class": "x.Teacher", "options": {"model": "m2", "batch_size": 16}}
    assert fingerprint(base) == fingerprint(other) != fingerprint(changed)
