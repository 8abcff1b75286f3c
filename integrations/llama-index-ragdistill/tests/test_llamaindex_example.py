"""examples/llamaindex_app.py runs on a teacher stack and on a student stack of tiny models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.mark.parametrize("which", ["teacher", "student"])
def test_the_example_runs_on_either_stack(
    example: Any, examples_dir: Path, tiny_stacks: dict[str, Path], which: str
) -> None:
    app = example(examples_dir / "llamaindex_app.py")
    results = app.main(["--components", str(tiny_stacks[which])])
    assert [r["question"] for r in results] == app.QUESTIONS
    for r in results:
        assert isinstance(r["answer"], str)
        assert 0 < len(r["sources"]) <= 2
        assert all(text in app.PASSAGES for text, _ in r["sources"])


def test_the_example_names_a_missing_stage(
    example: Any, examples_dir: Path, tmp_path: Path
) -> None:
    app = example(examples_dir / "llamaindex_app.py")
    (tmp_path / "embedder").mkdir()
    with pytest.raises(SystemExit, match="generator"):
        app.resolve_stack(str(tmp_path))
