"""examples/langchain_app.py runs all four stages on a teacher stack and on a student
stack of tiny models (folders), and on the packaged-model stack's recipe (names and
teacher kinds) pointed at tiny models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def _check(app: Any, results: list[dict[str, Any]]) -> None:
    assert [r["question"] for r in results] == app.QUESTIONS
    for r in results:
        assert isinstance(r["answer"], str) and isinstance(r["query"], str)
        assert 0 < len(r["sources"]) <= 2
        assert all(text in app.PASSAGES for text, _ in r["sources"])


@pytest.mark.parametrize("which", ["teacher", "student"])
def test_the_example_runs_on_either_stack(
    example: Any, examples_dir: Path, tiny_full_stacks: dict[str, Path], which: str
) -> None:
    app = example(examples_dir / "langchain_app.py")
    folder = tiny_full_stacks[which]
    assert set(app.resolve_stack(str(folder))) == set(app.STAGES)
    _check(app, app.main(["--components", str(folder)]))


def test_the_packaged_stack_builds_every_stage_by_name_or_kind(
    example: Any, examples_dir: Path, tiny_st_path: Path, tiny_lm_path: Path
) -> None:
    app = example(examples_dir / "langchain_app.py")
    assert set(app.resolve_stack("teacher")) == set(app.STAGES)
    # The same recipe as "teacher"/"student", on tiny models instead of packaged names.
    stack = app.packaged_stack(embedder=str(tiny_st_path), llm=str(tiny_lm_path))
    stack["query_transformer"][1]["max_new_tokens"] = 4
    _check(app, app.run(stack))


def test_the_example_names_a_missing_stage(
    example: Any, examples_dir: Path, tmp_path: Path
) -> None:
    app = example(examples_dir / "langchain_app.py")
    (tmp_path / "embedder").mkdir()
    with pytest.raises(SystemExit, match="generator"):
        app.resolve_stack(str(tmp_path))
