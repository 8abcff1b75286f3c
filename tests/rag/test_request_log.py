"""The online A/B's request log: a plain SQLite file, safe from threads and processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from ragdistill.errors import ConfigError
from ragdistill.rag.request_log import (
    RESET,
    SCHEMA_VERSION,
    TRIP,
    LoggedRequest,
    RequestLog,
    UnknownRequestError,
)


def row(arm: str = "a", role: str = "served", **fields: object) -> LoggedRequest:
    base: dict[str, object] = {"request_id": uuid.uuid4().hex, "created": time.time(), "arm": arm,
                               "role": role, "pair_id": None, "key_hash": None,
                               "assignment": "random", "inputs_digest": "d" * 64}  # fmt: skip
    return LoggedRequest(**{**base, **fields})  # type: ignore[arg-type]


def test_the_log_is_a_plain_sqlite_database_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    with RequestLog(path) as log:
        log.add_request(row(answer="Paris", contexts=["d0"], seconds={"embedder": 0.01},
                            queries=["q"], total_ms=12.5))  # fmt: skip
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"requests", "feedback", "events"} <= tables
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "requests_arm_created" in indexes
    got = db.execute("SELECT arm, answer, contexts, seconds, total_ms FROM requests").fetchall()
    assert got == [("a", "Paris", '["d0"]', '{"embedder": 0.01}', 12.5)]
    db.close()
    # Reopened, rows read back with their JSON parsed.
    with RequestLog(path) as log:
        (back,) = log.requests()
        assert back.contexts == ["d0"] and back.seconds == {"embedder": 0.01}
        assert back.queries == ["q"] and log.get(back.request_id) == back
        assert log.get("nope") is None and log.count(role="served", arm="a") == 1


def test_feedback_is_stored_for_served_requests_only(tmp_path: Path) -> None:
    with RequestLog(tmp_path / "log.sqlite") as log:
        served = row()
        log.add_request(served)
        shadow = row(role="shadow", pair_id=served.request_id)
        log.add_request(shadow)
        log.add_feedback(served.request_id, 1.0, note="helpful")
        log.add_feedback(served.request_id, 0)
        assert [(f.request_id, f.score, f.note) for f in log.feedback()] == [
            (served.request_id, 1.0, "helpful"),
            (served.request_id, 0.0, None),
        ]
        with pytest.raises(UnknownRequestError, match="no request has that id"):
            log.add_feedback("not-an-id", 1.0)
        with pytest.raises(UnknownRequestError, match="shadow row, which no user saw"):
            log.add_feedback(shadow.request_id, 1.0)
        with pytest.raises(ValueError, match="finite number"):
            log.add_feedback(served.request_id, float("nan"))
        assert len(log.feedback()) == 2


def test_guardrail_state_follows_the_last_trip_and_reset(tmp_path: Path) -> None:
    with RequestLog(tmp_path / "log.sqlite") as log:
        assert log.guardrail_state("b") == (None, 0.0)
        log.add_event(TRIP, "b", {"reason": "too slow"})
        trip, since = log.guardrail_state("b")
        assert trip is not None and trip.detail["reason"] == "too slow" and since == 0.0
        assert log.guardrail_state("other")[0] is None
        reset = log.add_event(RESET, "b", {})
        assert log.guardrail_state("b") == (None, reset.created)


def test_many_threads_and_a_second_process_write_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    log = RequestLog(path, synchronous="NORMAL")
    writer = f"""
import time, uuid
from ragdistill.rag.request_log import LoggedRequest, RequestLog
log = RequestLog({str(path)!r})
for i in range(150):
    log.add_request(LoggedRequest(uuid.uuid4().hex, time.time(), "other", "served", None,
                                  None, "random", "d"))
log.close()
"""
    proc = subprocess.Popen([sys.executable, "-c", writer])
    errors: list[BaseException] = []
    written = [0] * 8
    deadline = time.monotonic() + 60

    def write(i: int) -> None:
        try:  # at least 40 rows each, and on while the other process writes
            while written[i] < 40 or (proc.poll() is None and time.monotonic() < deadline):
                log.add_request(row())
                log.count(arm="other")  # reads interleave with the writes
                written[i] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert proc.wait(timeout=60) == 0
    assert not errors and not any(t.is_alive() for t in threads)
    assert log.count(arm="a") == sum(written) and log.count(arm="other") == 150
    assert log.integrity_check() == "ok"
    log.close()


def test_a_file_that_is_not_a_log_is_refused_clearly(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database, just some text " * 200)
    with pytest.raises(ConfigError, match=r"junk\.sqlite: file is not a database"):
        RequestLog(junk)
    newer = tmp_path / "newer.sqlite"
    RequestLog(newer).close()
    db = sqlite3.connect(newer)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(ConfigError, match="newer than this ragdistill's"):
        RequestLog(newer)
    closed = RequestLog(tmp_path / "closed.sqlite")
    closed.close()
    with pytest.raises(RuntimeError, match="is closed"):
        closed.add_request(row())
