"""The online router on tiny real models: sticky assignment, privacy of the log,
shadow runs off the response path, fallback, guardrails and feedback."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from ragdistill.datasets import RetrievalDataset
from ragdistill.errors import ConfigError
from ragdistill.rag.pipeline import Corpus, RagPipeline
from ragdistill.rag.request_log import RequestLog, UnknownRequestError
from ragdistill.rag.router import PipelineRouter
from ragdistill.rag.spec import GuardrailSpec, parse_spec
from tests.rag.router_support import failing, pipelines, slow

QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def pipes(two_arm_spec: dict[str, Any], qa_dataset: RetrievalDataset) -> tuple[RagPipeline, RagPipeline]:  # fmt: skip
    return pipelines(two_arm_spec, qa_dataset)


def test_keys_stick_to_their_arm_across_routers_and_split_at_the_share(
    pipes: tuple[RagPipeline, RagPipeline], tmp_path: Path
) -> None:
    control, treatment = pipes
    keys = [f"user-{i}" for i in range(3000)]
    with PipelineRouter(control, treatment, tmp_path / "a.sqlite", treatment_share=0.3, salt="exp-1") as one:  # fmt: skip
        first = {k: one.assign(k)[0] for k in keys}
        answered = {k: one.answer(QUESTION, key=k) for k in keys[:6]}
    share = sum(arm == "student" for arm in first.values()) / len(keys)
    assert 0.26 < share < 0.34  # 0.3 give or take 4 standard errors
    # A new router (a restart, another process) with the same salt: the same arms.
    with PipelineRouter(control, treatment, tmp_path / "a.sqlite", treatment_share=0.3, salt="exp-1") as two:  # fmt: skip
        assert {k: two.assign(k)[0] for k in keys} == first
        for k, ans in answered.items():
            again = two.answer(QUESTION, key=k)
            assert ans.arm == again.arm == first[k] and ans.request_id != again.request_id
    # Another salt is another experiment: users are assigned afresh.
    with PipelineRouter(control, treatment, tmp_path / "b.sqlite", treatment_share=0.3, salt="exp-2") as other:  # fmt: skip
        assert {k: other.assign(k)[0] for k in keys} != first
    with RequestLog(tmp_path / "a.sqlite") as log:
        rows = log.requests(role="served")
    assert len(rows) == 12 and {r.assignment for r in rows} == {"key"}
    for r in rows:
        assert r.arm == first[_key_of(r.key_hash, keys, "exp-1")]


def _key_of(hashed: str | None, keys: list[str], salt: str) -> str:
    return next(k for k in keys if hashlib.sha256(f"{salt}\x00{k}".encode()).hexdigest() == hashed)


def test_the_log_holds_no_raw_key_or_question(
    pipes: tuple[RagPipeline, RagPipeline], tmp_path: Path
) -> None:
    path = tmp_path / "log.sqlite"
    secret_key, secret_question = "alice.secret@example.com", "Which mountain hides zebra-7731?"
    with PipelineRouter(*pipes, path, salt="pepper", shadow=True) as router:
        ans = router.answer(secret_question, [{"role": "user", "content": "zebra-7731 hi"}],
                            key=secret_key)  # fmt: skip
        router.answer(secret_question, key=12345678901)
        router.record_feedback(ans.request_id, 1.0)
        written = b"".join(p.read_bytes() for p in tmp_path.glob("log.sqlite*"))
    written += b"".join(p.read_bytes() for p in tmp_path.glob("log.sqlite*"))
    for secret in (secret_key, "12345678901", "zebra-7731", "pepper"):
        assert secret.encode() not in written and secret.encode("utf-16-le") not in written
    with RequestLog(path) as log:
        served = log.get(ans.request_id)
    assert served is not None and served.queries is None and served.answer == ans.answer
    assert served.key_hash == hashlib.sha256(b"pepper\x00" + secret_key.encode()).hexdigest()


def test_a_request_without_a_key_is_assigned_at_random_and_logged_so(
    pipes: tuple[RagPipeline, RagPipeline], tmp_path: Path
) -> None:
    with PipelineRouter(*pipes, tmp_path / "log.sqlite", rng_seed=7) as router:
        arms = [router.retrieve(QUESTION).arm for _ in range(40)]
        forced = router.retrieve(QUESTION, key="k", arm="student")
        with RequestLog(tmp_path / "log.sqlite") as log:
            rows = log.requests(role="served")
    assert set(arms) == {"teacher", "student"}
    assert [r.assignment for r in rows] == ["random"] * 40 + ["forced"]
    assert all(r.key_hash is None and r.answer is None for r in rows[:40])
    assert forced.arm == "student" and rows[-1].contexts == [c.doc_id for c in forced.contexts]
    # The same seed draws the same arms.
    with PipelineRouter(*pipes, tmp_path / "again.sqlite", rng_seed=7) as again:
        assert [again.assign(None)[0] for _ in range(40)] == arms


def test_shadow_runs_off_the_response_path_and_both_rows_are_paired(
    pipes: tuple[RagPipeline, RagPipeline], tmp_path: Path
) -> None:
    control, treatment = pipes
    delay = 1.0
    router = PipelineRouter(control, slow(treatment, delay), tmp_path / "log.sqlite",
                            treatment_share=0.0, shadow=True)  # fmt: skip
    served = []
    for key in ("a", "b", "c"):
        start = time.perf_counter()
        served.append(router.answer(QUESTION, key=key))
        assert time.perf_counter() - start < delay / 2  # the slow shadow is not waited for
    assert router.pending_shadow >= 1
    router.close()  # waits for the shadow runs
    with RequestLog(tmp_path / "log.sqlite") as log:
        shadows = log.requests(role="shadow")
        assert [s.pair_id for s in shadows] == [a.request_id for a in served]
        for ans, shadow in zip(served, shadows):
            first = log.get(ans.request_id)
            assert first is not None and (first.arm, first.role, ans.arm) == ("teacher", "served", "teacher")  # fmt: skip
            assert shadow.arm == "slow" and shadow.total_ms is not None and shadow.total_ms >= delay * 1000  # fmt: skip
            assert (shadow.inputs_digest, shadow.key_hash) == (first.inputs_digest, first.key_hash)
            assert shadow.answer is not None and shadow.error is None


async def test_the_async_router_never_blocks_the_event_loop(
    pipes: tuple[RagPipeline, RagPipeline], tmp_path: Path
) -> None:
    control, treatment = pipes
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    async with PipelineRouter(control, slow(treatment, 0.5), tmp_path / "log.sqlite",
                              treatment_share=1.0, shadow=True) as router:  # fmt: skip
        beat = asyncio.create_task(heartbeat())
        ans = await asyncio.wait_for(router.aanswer(QUESTION, key="k"), timeout=30)
        beat.cancel()
        assert ans.arm == "slow" and ticks >= 10  # the loop ran while the model did
        retrieved = await router.aretrieve(QUESTION, key="k")
        assert retrieved.answer is None and retrieved.contexts
    with RequestLog(tmp_path / "log.sqlite") as log:
        assert log.count(role="served") == 2 and log.count(role="shadow") == 2


def test_a_failing_treatment_is_logged_and_the_control_answers(
    pipes: tuple[RagPipeline, RagPipeline], tmp_path: Path
) -> None:
    control, treatment = pipes
    lenient = GuardrailSpec(max_error_rate=1.0)
    with PipelineRouter(control, failing(treatment), tmp_path / "log.sqlite",
                        treatment_share=1.0, guardrails=lenient) as router:  # fmt: skip
        ans = router.answer(QUESTION, key="k")
        router.record_feedback(ans.request_id, 0.5)
        with RequestLog(tmp_path / "log.sqlite") as log:
            served, backup = log.get(ans.request_id), log.requests(role="fallback")[0]
    assert ans.arm == "teacher" and ans.answer is not None
    assert served is not None and served.arm == "broken" and served.answer is None
    assert served.error == "RuntimeError: generator backend unavailable"
    assert backup.pair_id == ans.request_id and backup.answer == ans.answer

    with PipelineRouter(control, failing(treatment), tmp_path / "strict.sqlite",
                        treatment_share=1.0, guardrails=lenient, fallback=False) as strict:  # fmt: skip
        with pytest.raises(RuntimeError, match="generator backend unavailable"):
            strict.answer(QUESTION, key="k")
        with RequestLog(tmp_path / "strict.sqlite") as log:
            assert [r.error is not None for r in log.requests()] == [True]
        with pytest.raises(ValueError, match="non-empty string"):
            strict.answer("  ")


def test_the_guardrail_trips_on_errors_and_stays_tripped_after_a_restart(
    pipes: tuple[RagPipeline, RagPipeline], tmp_path: Path
) -> None:
    control, treatment = pipes
    broken, path = failing(treatment), tmp_path / "log.sqlite"
    rails = GuardrailSpec(max_error_rate=0.2, min_requests=5, window=10)
    with PipelineRouter(control, broken, path, treatment_share=1.0, guardrails=rails) as router:
        arms = [router.answer(QUESTION, key=f"u{i}").arm for i in range(8)]
        assert router.tripped is not None and "error rate 100.0%" in router.tripped
        assert router.assign("u1") == ("teacher", router.assign("u1")[1], "guardrail")
    assert arms == ["teacher"] * 8  # the first five by fallback, then by the guardrail
    with RequestLog(path) as log:
        served = log.requests(role="served")
        assert [r.assignment for r in served] == ["key"] * 5 + ["guardrail"] * 3
        assert [r.arm for r in served] == ["broken"] * 5 + ["teacher"] * 3
        (event,) = log.events("guardrail_trip")
        assert event.arm == "broken" and event.detail["requests"] == 5
    # A restarted router on the same log is still tripped, until reset.
    with PipelineRouter(control, broken, path, treatment_share=1.0, guardrails=rails) as again:
        assert again.tripped == event.detail["reason"]
        assert again.answer(QUESTION, key="u1").arm == "teacher"
        again.reset_guardrail()
        assert again.tripped is None and again.assign("u1")[2] == "key"
    with PipelineRouter(control, treatment, path, treatment_share=1.0, guardrails=rails,
                        treatment_name="broken") as healthy:  # fmt: skip
        # The reset started a new window: the old errors no longer count.
        assert [healthy.answer(QUESTION, key=f"u{i}").arm for i in range(6)] == ["broken"] * 6
        assert healthy.tripped is None


def test_the_guardrail_trips_on_p95_latency(
    pipes: tuple[RagPipeline, RagPipeline], tmp_path: Path
) -> None:
    control, treatment = pipes
    rails = GuardrailSpec(max_p95_ms=30, min_requests=4)
    with PipelineRouter(control, slow(treatment, 0.06), tmp_path / "log.sqlite",
                        treatment_share=1.0, guardrails=rails) as router:  # fmt: skip
        arms = [router.answer(QUESTION).arm for _ in range(6)]
        assert router.tripped is not None and "p95 latency" in router.tripped
    assert arms == ["slow"] * 4 + ["teacher"] * 2
    with RequestLog(tmp_path / "log.sqlite") as log:
        (event,) = log.events("guardrail_trip")
        assert event.detail["p95_ms"] > 30 and event.detail["error_rate"] == 0


def test_feedback_is_recorded_and_an_unknown_id_refused(
    pipes: tuple[RagPipeline, RagPipeline], tmp_path: Path
) -> None:
    with PipelineRouter(*pipes, tmp_path / "log.sqlite") as router:
        ans = router.answer(QUESTION, key="k")
        assert ans.request_id is not None
        router.record_feedback(ans.request_id, 4, note="good")
        with pytest.raises(UnknownRequestError, match="'nope': no request has that id"):
            router.record_feedback("nope", 1)
    db = sqlite3.connect(tmp_path / "log.sqlite")
    assert db.execute("SELECT request_id, score, note FROM feedback").fetchall() == [
        (ans.request_id, 4.0, "good")
    ]
    db.close()


def test_from_spec_builds_both_arms_with_the_router_table(
    two_arm_spec: dict[str, Any], qa_dataset: RetrievalDataset, tmp_path: Path
) -> None:
    table = {"treatment_share": 1.0, "salt": "s", "guardrails": {"min_requests": 3}}
    spec = parse_spec({**two_arm_spec, "ablate": False, "router": table})
    corpus = Corpus.from_dataset(qa_dataset)
    with PipelineRouter.from_spec(spec, corpus, tmp_path / "log.sqlite", rng_seed=1) as router:
        assert (router.control_name, router.treatment_name) == ("teacher", "student")
        assert router.guardrails.min_requests == 3 and router.name == "tiny"
        assert router.answer(QUESTION, key="x").arm == "student"
    with RequestLog(tmp_path / "log.sqlite") as log:
        (start,) = log.events("router_start")
    assert start.detail["differs"] == ["reranker", "generator"] and start.detail["salted"]
    assert "s" not in start.detail.values()
    single = parse_spec({**two_arm_spec, "ablate": False, "treatment": None,
                         "arms": {"teacher": two_arm_spec["arms"]["teacher"]}})  # fmt: skip
    with pytest.raises(ConfigError, match="needs two arms"):
        PipelineRouter.from_spec(single, corpus, tmp_path / "x.sqlite")
