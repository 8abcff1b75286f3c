"""The router under load on tiny real models: 8 threads, 200 concurrent asyncio requests,
and a serving process killed with SIGKILL mid-run. Every answered request has exactly
one committed served row, and a key never changes arm."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ragdistill.datasets import RetrievalDataset
from ragdistill.rag.pipeline import RagPipeline
from ragdistill.rag.request_log import RequestLog
from ragdistill.rag.router import PipelineRouter
from ragdistill.rag.spec import GuardrailSpec
from tests.rag.router_support import pipelines

KEYS = [f"user-{i}" for i in range(40)]
#: (key or None, arm that answered, request id) of each request a client made.
Outcome = tuple[str | None, str, str]


@pytest.fixture(scope="module")
def pipes(two_arm_spec: dict[str, Any], qa_dataset: RetrievalDataset) -> tuple[RagPipeline, RagPipeline]:  # fmt: skip
    return pipelines(two_arm_spec, qa_dataset)


def router_for(pipes: tuple[RagPipeline, RagPipeline], path: Path) -> PipelineRouter:
    return PipelineRouter(*pipes, path, treatment_share=0.5, shadow=True, salt="load",
                          guardrails=GuardrailSpec(max_error_rate=1.0),
                          max_pending_shadow=1000)  # fmt: skip


def request_args(i: int, questions: list[str]) -> tuple[str, str | None, bool]:
    """Request ``i``: its question, its key (every fifth has none) and whether it
    generates (else retrieval only)."""
    return questions[i % len(questions)], KEYS[i % len(KEYS)] if i % 5 else None, i % 2 == 0


def check_log(path: Path, outcomes: list[Outcome]) -> None:
    with RequestLog(path) as log:
        served, shadows = log.requests(role="served"), log.requests(role="shadow")
        assert log.integrity_check() == "ok"
    ids = [rid for _, _, rid in outcomes]
    assert len(set(ids)) == len(ids) == len(served)
    assert {r.request_id for r in served} == set(ids)
    assert not [r.error for r in served + shadows if r.error]
    arms_of: dict[str | None, set[str]] = defaultdict(set)
    for key, arm, _ in outcomes:
        arms_of[key].add(arm)
    keyed = {k: arms for k, arms in arms_of.items() if k is not None}
    assert len(keyed) == 32 and all(len(arms) == 1 for arms in keyed.values())  # sticky
    assert {r.assignment for r in served} == {"key", "random"}
    by_hash: dict[str | None, set[str]] = defaultdict(set)
    for r in served:
        by_hash[r.key_hash].add(r.arm)
    assert all(len(arms) == 1 for h, arms in by_hash.items() if h is not None)
    # Every served request was shadowed by the other arm, exactly once.
    arm_of = {r.request_id: r.arm for r in served}
    assert sorted(s.pair_id or "" for s in shadows) == sorted(ids)
    assert all(arm_of[s.pair_id or ""] != s.arm for s in shadows)


@pytest.mark.timeout(180)
def test_eight_threads_of_requests(
    pipes: tuple[RagPipeline, RagPipeline], qa_dataset: RetrievalDataset, tmp_path: Path
) -> None:
    questions = list(qa_dataset.queries.values())
    router = router_for(pipes, tmp_path / "log.sqlite")

    def client(c: int) -> list[Outcome]:
        out = []
        for i in range(c * 25, (c + 1) * 25):
            question, key, generate = request_args(i, questions)
            ans = (router.answer if generate else router.retrieve)(question, key=key)
            assert ans.arm is not None and ans.request_id is not None
            out.append((key, ans.arm, ans.request_id))
        return out

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(client, c) for c in range(8)]
        outcomes = [o for f in futures for o in f.result(timeout=120)]
    assert router.wait_for_shadow(timeout=120)
    router.close()
    assert len(outcomes) == 200
    check_log(tmp_path / "log.sqlite", outcomes)


@pytest.mark.timeout(180)
async def test_two_hundred_concurrent_async_requests(
    pipes: tuple[RagPipeline, RagPipeline], qa_dataset: RetrievalDataset, tmp_path: Path
) -> None:
    questions = list(qa_dataset.queries.values())
    router = router_for(pipes, tmp_path / "log.sqlite")

    async def one(i: int) -> Outcome:
        question, key, generate = request_args(i, questions)
        ans = await (router.aanswer if generate else router.aretrieve)(question, key=key)
        assert ans.arm is not None and ans.request_id is not None
        return key, ans.arm, ans.request_id

    outcomes = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(200))), timeout=120)
    await asyncio.wait_for(router.aclose(), timeout=120)  # waits for the shadow runs
    check_log(tmp_path / "log.sqlite", list(outcomes))


SERVER = textwrap.dedent("""
    import json, sys
    from ragdistill.datasets import Document
    from ragdistill.rag.pipeline import Corpus
    from ragdistill.rag.router import PipelineRouter
    from ragdistill.rag.spec import parse_spec

    cfg = json.loads(open(sys.argv[1]).read())
    corpus = Corpus([Document(*doc) for doc in cfg["docs"]])
    router = PipelineRouter.from_spec(parse_spec(cfg["spec"]), corpus, cfg["log"], shadow=True)
    print("ready", flush=True)
    i = 0
    while True:
        ans = router.answer(cfg["questions"][i % len(cfg["questions"])], key=f"user-{i % 17}")
        if i % 4 == 0:
            router.record_feedback(ans.request_id, i % 3)
        print(ans.request_id, flush=True)
        i += 1
""")


@pytest.mark.timeout(240)
def test_a_server_killed_mid_run_loses_no_answered_request(
    two_arm_spec: dict[str, Any], qa_dataset: RetrievalDataset, tmp_path: Path
) -> None:
    log_path = tmp_path / "log.sqlite"
    docs = [[d.id, d.title, d.text] for d in qa_dataset.corpus.values()]
    cfg = {"spec": {**two_arm_spec, "ablate": False}, "docs": docs, "log": str(log_path),
           "questions": list(qa_dataset.queries.values())}  # fmt: skip
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    (tmp_path / "server.py").write_text(SERVER)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
    with (tmp_path / "stderr.txt").open("w") as err:
        proc = subprocess.Popen([sys.executable, str(tmp_path / "server.py"), str(tmp_path / "cfg.json")],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env)  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    printed: list[str] = []
    try:
        assert lines.get(timeout=150) == "ready", (tmp_path / "stderr.txt").read_text()[-3000:]
        while len(printed) < 40:
            line = lines.get(timeout=60)
            assert line is not None, (tmp_path / "stderr.txt").read_text()[-3000:]
            printed.append(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    reader.join(timeout=30)
    while (line := lines.get_nowait()) is not None:  # printed before the kill landed
        printed.append(line)
    assert proc.returncode == -signal.SIGKILL

    db = sqlite3.connect(log_path)  # opens cleanly: SQLite recovers from the WAL
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    found = dict(db.execute(
        f"SELECT request_id, role FROM requests WHERE request_id IN ({', '.join('?' * len(printed))})",
        printed,
    ).fetchall())  # fmt: skip
    db.close()
    assert found == dict.fromkeys(printed, "served")
    with RequestLog(log_path) as log:  # and the log takes new rows
        assert log.count(role="served") >= len(printed)
        assert len(log.feedback()) >= len(printed) // 4
