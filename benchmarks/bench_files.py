"""Helpers the benchmark scripts share: how a path is shown, and a student's identity."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shown(path: Path) -> str:
    """``path`` relative to the repository when inside it, so the page reads the same anywhere."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def student_files(artifact: Path) -> dict[str, str]:
    """sha256 of each file of the student, from its manifest: changes when it is retrained.

    Re-saving an unchanged student keeps the digests (its file times do not), so a
    benchmark compares these to decide whether an earlier A/B still describes it.
    """
    files = json.loads((artifact / "ragdistill.json").read_text())["files"]
    return {name: entry["sha256"] for name, entry in files.items()}
