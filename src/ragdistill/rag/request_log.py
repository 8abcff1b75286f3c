"""The online A/B's request log: one SQLite database (WAL mode) users can query directly.

Every request the router serves is one row of ``requests``, committed before the answer
is returned, so a process killed with SIGKILL loses no request it answered. Feedback
and guardrail events have their own tables. The log stores no raw user key (only the
salted sha256 the router assigned by) and no raw question (only a digest); see
:class:`RequestLog` for the schema. Read it back with :meth:`RequestLog.requests`, or::

    sqlite3 log.sqlite "SELECT arm, count(*), avg(total_ms) FROM requests
                        WHERE role = 'served' GROUP BY arm"

One connection per log, used under a lock, serves every thread of a process; several
processes may share the file (WAL readers never block the writer, and a writer waits
``timeout_s`` for another's commit rather than failing).
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragdistill.errors import ConfigError, RagdistillError

#: Bumped when the schema changes; kept in ``PRAGMA user_version``.
SCHEMA_VERSION = 1
ROLES = ("served", "shadow", "fallback")
ASSIGNMENTS = ("key", "random", "guardrail", "forced")
TRIP, RESET, START = "guardrail_trip", "guardrail_reset", "router_start"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS requests (
    request_id    TEXT PRIMARY KEY,
    created       REAL NOT NULL,      -- unix seconds
    arm           TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN {ROLES}),
    pair_id       TEXT,               -- shadow / fallback rows: the served request's id
    key_hash      TEXT,               -- sha256 of salt and key; NULL without a key
    assignment    TEXT NOT NULL CHECK (assignment IN {ASSIGNMENTS}),
    inputs_digest TEXT NOT NULL,      -- sha256 of salt, question and history
    answer        TEXT,               -- NULL for retrieval-only requests and errors
    queries       TEXT,               -- JSON list; NULL unless the router stores queries
    contexts      TEXT,               -- JSON list of the contexts' document ids
    seconds       TEXT,               -- JSON {{stage: seconds}}
    total_ms      REAL,               -- wall time of the arm's run, as its caller waited
    error         TEXT                -- the exception's last line; NULL when it answered
);
CREATE INDEX IF NOT EXISTS requests_arm_created ON requests (arm, role, created);
CREATE INDEX IF NOT EXISTS requests_created ON requests (created);
CREATE INDEX IF NOT EXISTS requests_pair ON requests (pair_id);
CREATE TABLE IF NOT EXISTS feedback (
    id         INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES requests (request_id),
    score      REAL NOT NULL,
    created    REAL NOT NULL,
    note       TEXT
);
CREATE INDEX IF NOT EXISTS feedback_request ON feedback (request_id);
CREATE TABLE IF NOT EXISTS events (
    id      INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    kind    TEXT NOT NULL,            -- router_start, guardrail_trip, guardrail_reset
    arm     TEXT,
    detail  TEXT                      -- JSON
);
CREATE INDEX IF NOT EXISTS events_kind ON events (kind, arm);
"""


class UnknownRequestError(RagdistillError, KeyError):
    """Feedback named a request id the log has no served row for."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass
class LoggedRequest:
    """One row of ``requests``, its JSON columns parsed."""

    request_id: str
    created: float
    arm: str
    role: str
    pair_id: str | None
    key_hash: str | None
    assignment: str
    inputs_digest: str
    answer: str | None = None
    queries: list[str] | None = None
    contexts: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    total_ms: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Feedback:
    request_id: str
    score: float
    created: float
    note: str | None


@dataclass(frozen=True)
class Event:
    id: int
    created: float
    kind: str
    arm: str | None
    detail: dict[str, Any]


_COLUMNS = [f for f in LoggedRequest.__dataclass_fields__]
_JSON_COLUMNS = {"queries", "contexts", "seconds"}


class RequestLog:
    """The SQLite file at ``path`` (created with its schema if new).

    ``synchronous="FULL"`` (the default) syncs every commit to disk, so a request
    survives a power cut too; ``"NORMAL"`` survives a killed process but not a power
    cut, and commits faster. The log is safe to share between threads and processes.
    """

    def __init__(
        self, path: Path | str, *, timeout_s: float = 30.0, synchronous: str = "FULL"
    ) -> None:
        if synchronous.upper() not in ("FULL", "NORMAL"):
            raise ConfigError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            # Autocommit: each statement outside an explicit BEGIN is its own commit.
            self._db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None,
                                       check_same_thread=False)  # fmt: skip
            self._setup(synchronous.upper())
        except sqlite3.DatabaseError as exc:
            self.close()
            raise ConfigError(f"request log {self.path}: {exc}; give a new file or an existing log") from None  # fmt: skip
        except BaseException:
            self.close()
            raise

    def _setup(self, synchronous: str) -> None:
        db = self._conn()
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {synchronous}")
        with self._transaction() as tx:
            version = tx.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ConfigError(f"request log {self.path} has schema {version}, newer than this ragdistill's {SCHEMA_VERSION}: upgrade ragdistill")  # fmt: skip
            statement = ""
            for line in _SCHEMA.splitlines(keepends=True):
                statement += line
                if sqlite3.complete_statement(statement):
                    tx.execute(statement)
                    statement = ""
            tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"request log {self.path} is closed")
        return self._db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Statements under the lock in one ``BEGIN IMMEDIATE`` ... ``COMMIT``."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn().execute(sql, params).fetchall()

    # -- writing -------------------------------------------------------------------

    def add_request(self, row: LoggedRequest) -> None:
        """Insert one request, committed before this returns."""
        values = [getattr(row, c) for c in _COLUMNS]
        values = [json.dumps(v) if c in _JSON_COLUMNS and v is not None else v
                  for c, v in zip(_COLUMNS, values)]  # fmt: skip
        marks = ", ".join("?" * len(_COLUMNS))
        with self._lock:
            self._conn().execute(f"INSERT INTO requests ({', '.join(_COLUMNS)}) VALUES ({marks})", values)  # fmt: skip

    def add_feedback(self, request_id: str, score: float, note: str | None = None) -> None:
        """Record a user's ``score`` of a served request; an unknown id (or a shadow
        row's, which no user saw) raises :class:`UnknownRequestError`."""
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):  # fmt: skip
            raise ValueError(f"feedback score must be a finite number, got {score!r}")
        with self._transaction() as tx:
            found = tx.execute("SELECT role FROM requests WHERE request_id = ?", (request_id,)).fetchone()  # fmt: skip
            if found is None or found[0] != "served":
                why = "no request has that id" if found is None else f"that is a {found[0]} row, which no user saw"  # fmt: skip
                raise UnknownRequestError(f"no feedback recorded for request {request_id!r}: {why}; give the request_id a router answer carried")  # fmt: skip
            tx.execute("INSERT INTO feedback (request_id, score, created, note) VALUES (?, ?, ?, ?)",
                       (request_id, float(score), time.time(), note))  # fmt: skip

    def add_event(self, kind: str, arm: str | None, detail: Mapping[str, Any]) -> Event:
        created = time.time()
        blob = json.dumps(dict(detail), default=str)
        with self._lock:
            cursor = self._conn().execute(
                "INSERT INTO events (created, kind, arm, detail) VALUES (?, ?, ?, ?)",
                (created, kind, arm, blob),
            )
        return Event(int(cursor.lastrowid or 0), created, kind, arm, dict(detail))

    # -- reading -------------------------------------------------------------------

    def requests(self, *, role: str | None = None, arm: str | None = None) -> list[LoggedRequest]:
        """Rows of ``requests`` (of one role / arm when given), oldest first."""
        where, params = _where(role=role, arm=arm)
        rows = self._query(f"SELECT {', '.join(_COLUMNS)} FROM requests{where} ORDER BY created, rowid", params)  # fmt: skip
        return [_row(r) for r in rows]

    def get(self, request_id: str) -> LoggedRequest | None:
        rows = self._query(f"SELECT {', '.join(_COLUMNS)} FROM requests WHERE request_id = ?", (request_id,))  # fmt: skip
        return _row(rows[0]) if rows else None

    def count(self, *, role: str | None = None, arm: str | None = None) -> int:
        where, params = _where(role=role, arm=arm)
        return int(self._query(f"SELECT count(*) FROM requests{where}", params)[0][0])

    def feedback(self) -> list[Feedback]:
        rows = self._query("SELECT request_id, score, created, note FROM feedback ORDER BY id")
        return [Feedback(*r) for r in rows]

    def events(self, kind: str | None = None) -> list[Event]:
        where, params = (" WHERE kind = ?", (kind,)) if kind else ("", ())
        rows = self._query(f"SELECT id, created, kind, arm, detail FROM events{where} ORDER BY id", params)  # fmt: skip
        return [Event(i, c, k, a, json.loads(d) if d else {}) for i, c, k, a, d in rows]

    def recent_served(self, arm: str, limit: int, *, since: float = 0.0) -> list[tuple[bool, float | None]]:  # fmt: skip
        """``(failed, total_ms)`` of ``arm``'s last ``limit`` served rows after ``since``."""
        rows = self._query(
            "SELECT error IS NOT NULL, total_ms FROM requests WHERE arm = ? AND role = 'served' "
            "AND created > ? ORDER BY created DESC LIMIT ?",
            (arm, since, limit),
        )
        return [(bool(failed), ms) for failed, ms in rows]

    def guardrail_state(self, arm: str) -> tuple[Event | None, float]:
        """The trip in force for ``arm`` (None when there is none) and when its guardrail
        window starts: the last reset (0 when never reset)."""
        with self._lock:
            db = self._conn()
            reset = db.execute("SELECT max(id), max(created) FROM events WHERE kind = ? AND arm = ?",
                               (RESET, arm)).fetchone()  # fmt: skip
            trip = db.execute(
                "SELECT id, created, kind, arm, detail FROM events WHERE kind = ? AND arm = ? "
                "AND id > ? ORDER BY id DESC LIMIT 1", (TRIP, arm, reset[0] or 0),
            ).fetchone()  # fmt: skip
        since = float(reset[1] or 0.0)
        if trip is None:
            return None, since
        i, created, kind, arm_, detail = trip
        return Event(i, created, kind, arm_, json.loads(detail) if detail else {}), since

    def integrity_check(self) -> str:
        """SQLite's own check of the file: ``"ok"`` when sound."""
        return str(self._query("PRAGMA integrity_check")[0][0])

    def close(self) -> None:
        """Close the connection (the last one out folds the WAL into the database)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> RequestLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _where(**columns: str | None) -> tuple[str, tuple[Any, ...]]:
    used = {k: v for k, v in columns.items() if v is not None}
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(f"{k} = ?" for k in used), tuple(used.values())


def _row(values: tuple[Any, ...]) -> LoggedRequest:
    data = dict(zip(_COLUMNS, values))
    for column in _JSON_COLUMNS:
        if data[column] is not None:
            data[column] = json.loads(data[column])
    data["contexts"] = data["contexts"] or []
    data["seconds"] = data["seconds"] or {}
    return LoggedRequest(**data)
