"""Several processes writing one teacher cache / generation store at once.

Every stored value is a deterministic function of its key, so after any mix of
concurrent writers, kills and reopenings each key can be checked exactly. The workers are
real processes: this file run as a script (see the bottom).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ragdistill.generation.store import GenerationStore, Labelled
from ragdistill.teacher_cache import TeacherCache, content_key

DIM, K = 8, 3


def key_of(i: int) -> str:
    return content_key("concurrency", str(i))


def vector_of(key: str) -> np.ndarray:
    return (np.frombuffer(bytes.fromhex(key[:64]), dtype=np.uint32) / 2**32).astype(np.float32)


def generation_of(key: str) -> Labelled:
    seed = int(key[:8], 16)
    rows = seed % 5  # some generations keep no log-prob rows at all
    rng = np.random.default_rng(seed)
    return Labelled(
        f"answer {key[:16]}",
        "stop" if seed % 2 else "length",
        rng.integers(0, 50_000, rows).astype(np.int32),
        rng.integers(0, 50_000, (rows, K)).astype(np.int32),
        -rng.random((rows, K), dtype=np.float32),
    )


def open_store(kind: str, root: str | Path) -> TeacherCache | GenerationStore:
    if kind == "teacher":
        return TeacherCache.open("t", dim=DIM, root=root)
    return GenerationStore.open("t", k=K, root=root)


def values_of(kind: str, keys: list[str]) -> np.ndarray | list[Labelled]:
    if kind == "teacher":
        return np.stack([vector_of(k) for k in keys])
    return [generation_of(k) for k in keys]


def check_stored(kind: str, store: TeacherCache | GenerationStore, keys: list[str]) -> None:
    """Every key holds exactly its value, and nothing is stored but the keys' rows."""
    unique = list(dict.fromkeys(keys))
    if isinstance(store, TeacherCache):
        np.testing.assert_array_equal(store.get(unique), values_of(kind, unique))
        assert store.committed == len(unique)  # each key stored once, no orphan rows
        assert (store.folder / "vectors.f32").stat().st_size == len(unique) * DIM * 4
        return
    assert len(store) == len(unique)
    rows = 0
    for got, want in zip(store.get(unique), values_of(kind, unique), strict=True):
        assert (got.text, got.finish_reason) == (want.text, want.finish_reason)
        assert want.token_ids is not None
        rows += len(want.token_ids)
        if len(want.token_ids) == 0:
            assert got.token_ids is None
            continue
        for name in ("token_ids", "top_ids", "top_logprobs"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert store.committed_rows == rows  # no orphan rows either
    assert (store.folder / "token_ids.i32").stat().st_size == rows * 4
    assert (store.folder / "top_logprobs.f32").stat().st_size == rows * K * 4


def spec_keys(spec: str) -> list[int]:
    """``"0:300,600:700"`` -> those ranges; a leading ``r`` reverses the whole list."""
    reverse = spec.startswith("r")
    out = [i for part in spec.lstrip("r").split(",") for i in range(*map(int, part.split(":")))]
    return out[::-1] if reverse else out


def spawn(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def expect(proc: subprocess.Popen[str], word: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith(word), f"expected {word!r} from the worker, got {line!r}"


def say(proc: subprocess.Popen[str], line: str = "go") -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def finish(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    rest = proc.stdout.read()
    assert proc.wait(timeout=120) == 0, rest
    assert rest.rstrip().endswith("done"), rest


def run_concurrently(kind: str, root: Path) -> None:
    # Overlapping ranges (150:300 is written by all three) and ranges only one writes;
    # the third goes backwards through fill(), the others put() every batch they compute.
    specs = [("0:300,600:700", "5", "put"), ("150:450,700:800", "7", "put")]
    specs.append(("r0:600,800:900", "6", "fill"))
    workers = [spawn("write", kind, root, spec, batch, how) for spec, batch, how in specs]
    for w in workers:
        expect(w, "ready")
    for w in workers:  # all start together
        say(w)
    for w in workers:
        finish(w)
    store = open_store(kind, root)
    check_stored(kind, store, [key_of(i) for spec, _, _ in specs for i in spec_keys(spec)])


def test_three_writers_teacher_cache(tmp_path):
    started = time.perf_counter()
    run_concurrently("teacher", tmp_path)
    print(f"3 writers, teacher cache: {time.perf_counter() - started:.1f}s")


def test_three_writers_generation_store(tmp_path):
    started = time.perf_counter()
    run_concurrently("gen", tmp_path)
    print(f"3 writers, generation store: {time.perf_counter() - started:.1f}s")


def test_rows_a_dead_writer_left_do_not_shift_a_live_writer(tmp_path):
    """A writer opened before another died mid-batch writes after the committed rows."""
    live = TeacherCache.open("t", dim=DIM, root=tmp_path)
    first = [key_of(i) for i in range(3)]
    live.put(first, values_of("teacher", first))
    with open(tmp_path / "t" / "vectors.f32", "ab") as fh:  # the dead writer's batch
        fh.write(b"\x7f" * DIM * 4 * 5)
    more = [key_of(i) for i in range(3, 9)]
    live.put(more + first[:1], values_of("teacher", more + first[:1]))
    check_stored("teacher", live, first + more)

    gens = GenerationStore.open("t", k=K, root=tmp_path)
    gens.put(first, values_of("gen", first))
    for name in ("token_ids.i32", "top_ids.i32", "top_logprobs.f32"):
        with open(tmp_path / "generations" / "t-k3" / name, "ab") as fh:
            fh.write(b"\x7f" * 4 * K * 7)
    gens.put(more, values_of("gen", more))
    check_stored("gen", gens, first + more)


def test_open_waits_for_a_live_writer_mid_batch(tmp_path):
    """Opening truncates uncommitted rows: never those of a writer still appending."""
    for kind in ("teacher", "gen"):
        root = tmp_path / kind
        writer = spawn("write", kind, root, "0:40", "4", "put", 3)
        expect(writer, "ready")
        say(writer)
        for _ in range(3):
            expect(writer, "batch")
        expect(writer, "appended")  # its 4th batch is on disk, not committed, lock held
        opener = spawn("open", kind, root)
        expect(opener, "ready")
        say(opener)
        time.sleep(1.0)
        assert opener.poll() is None  # blocked on the writer lock, truncating nothing
        say(writer)  # let the writer commit and go on
        finish(opener)
        finish(writer)
        check_stored(kind, open_store(kind, root), [key_of(i) for i in range(40)])


def test_kill_9_of_one_writer_while_another_writes(tmp_path):
    for kind in ("teacher", "gen"):
        root = tmp_path / kind
        other = spawn("write", kind, root, "100:400", "7", "put")
        victim = spawn("write", kind, root, "0:250", "5", "put", 6)
        for w in (other, victim):
            expect(w, "ready")
        for w in (other, victim):
            say(w)
        for _ in range(6):
            expect(victim, "batch")
        expect(victim, "appended")  # dies holding the lock, its batch uncommitted
        victim.kill()
        victim.wait()
        # A second victim killed at a moment of no choosing, while the other writer runs.
        victim = spawn("write", kind, root, "0:250", "5", "put")
        expect(victim, "ready")
        say(victim)
        for _ in range(4):
            expect(victim, "batch")
        time.sleep(0.013)
        victim.kill()
        victim.wait()
        finish(other)  # the kernel released the dead writers' lock: it finished
        store = open_store(kind, root)
        done = [key_of(i) for i in range(250) if not store.missing([key_of(i)])]
        check_stored(kind, store, [key_of(i) for i in range(100, 400)] + done)
        resumed = spawn("write", kind, root, "0:250", "5", "fill")
        expect(resumed, "ready")
        say(resumed)
        finish(resumed)
        check_stored(kind, open_store(kind, root), [key_of(i) for i in range(400)])


def _worker(argv: list[str]) -> None:
    """``write KIND ROOT SPEC BATCH put|fill [STALL]`` or ``open KIND ROOT``.

    Prints ``ready``, waits for a line on stdin, then writes its keys in batches, reading
    each batch back as it goes (``batch`` after each). With ``STALL``, batch number STALL
    is appended but not committed (``appended``) until another line comes.
    """
    action, kind, root = argv[:3]
    store = open_store(kind, root) if action == "write" else None
    print("ready", flush=True)
    sys.stdin.readline()
    if store is None:
        open_store(kind, root)
        print("done", flush=True)
        return
    keys = [key_of(i) for i in spec_keys(argv[3])]
    batch, how = int(argv[4]), argv[5]
    stall = int(argv[6]) if len(argv) > 6 else -1
    batches, stalled = 0, []
    if stall >= 0:
        module = sys.modules[type(store).__module__]
        real_append = module.append_after_committed

        def stalling_append(*args):
            real_append(*args)
            if batches == stall and not stalled:  # once: a store appends a file per array
                stalled.append(True)
                print("appended", flush=True)
                sys.stdin.readline()

        module.append_after_committed = stalling_append
    if how == "fill":
        compute = lambda idx: values_of(kind, [keys[i] for i in idx])  # noqa: E731
        store.fill(keys, compute, batch_size=batch, show_progress=False)
    else:
        for start in range(0, len(keys), batch):
            part = keys[start : start + batch]
            store.put(part, values_of(kind, part))
            check_stored_values(kind, store, part)
            batches += 1
            print("batch", flush=True)
    print("done", flush=True)


def check_stored_values(kind: str, store: TeacherCache | GenerationStore, keys: list[str]) -> None:
    """Read back while others write: values only (counts move under other writers)."""
    if isinstance(store, TeacherCache):
        np.testing.assert_array_equal(store.get(keys), values_of(kind, keys))
        return
    for got, want in zip(store.get(keys), values_of(kind, keys), strict=True):
        assert got.text == want.text
        if got.token_ids is not None:
            np.testing.assert_array_equal(got.top_logprobs, want.top_logprobs)


if __name__ == "__main__":
    _worker(sys.argv[1:])
