"""Replace one marked section of BENCHMARKS.md, keeping every other section."""

from __future__ import annotations

from pathlib import Path

HEADER = "# Benchmarks\n\nEach section is written by the script it names; re-run that script to reproduce it.\n"


def replace_section(path: Path, key: str, title: str, body: str) -> None:
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    block = f"{start}\n## {title}\n\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else HEADER
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
