"""examples/router_langchain_app.py serves a teacher and a student stack of tiny models
through the A/B router, then reports on the log with `ragdistill ab report`."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest


def test_the_router_example_serves_both_arms_and_reports(
    example: Any, examples_dir: Path, tiny_stacks: dict[str, Path], tmp_path: Path
) -> None:
    app = example(examples_dir / "router_langchain_app.py")
    result = app.main(["--teacher", str(tiny_stacks["teacher"]), "--student",
                       str(tiny_stacks["student"]), "--out", str(tmp_path), "--n-bootstrap", "50"])  # fmt: skip
    served = result["requests"]
    assert [(r["user"], r["question"]) for r in served] == [(u, q) for u, q, _ in app.REQUESTS]
    arms = {r["user"]: {x["arm"] for x in served if x["user"] == r["user"]} for r in served}
    assert all(len(a) == 1 for a in arms.values())  # sticky: one arm per user
    assert set().union(*arms.values()) == {"teacher", "distilled"}
    for r in served:
        assert isinstance(r["answer"], str) and r["request_id"]
        assert 0 < len(r["sources"]) <= 2 and all(s in app.PASSAGES for s in r["sources"])
    with sqlite3.connect(result["log"]) as db:
        roles = dict(db.execute("SELECT role, count(*) FROM requests GROUP BY role").fetchall())
        feedback = db.execute("SELECT count(*) FROM feedback").fetchone()[0]
    assert roles == {"served": len(served), "shadow": len(served)}  # shadow mode is on
    assert feedback == len(served)
    assert "control = teacher" in result["summary"] and "distilled" in result["summary"]
    assert (tmp_path / "report" / "report.html").is_file()


def test_the_example_wants_both_stacks(
    example: Any, examples_dir: Path, tiny_stacks: dict[str, Path], tmp_path: Path
) -> None:
    app = example(examples_dir / "router_langchain_app.py")
    with pytest.raises(SystemExit, match="both --teacher and --student"):
        app.load_spec(app.SPEC, str(tiny_stacks["teacher"]))
    with pytest.raises(SystemExit, match="generator"):
        app.arm_from(tmp_path)
