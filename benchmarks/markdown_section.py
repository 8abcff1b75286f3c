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


def read_subsection(path: Path, key: str, heading: str) -> str | None:
    """The text under ``heading`` (a ``### `` line) inside section ``key``, up to the next
    ``### `` heading or the section's end; None when absent."""
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    text = path.read_text() if path.exists() else ""
    if start not in text or end not in text:
        return None
    section = text.split(start, 1)[1].split(end, 1)[0]
    marker = f"### {heading}\n"
    if marker not in section:
        return None
    body = section.split(marker, 1)[1].split("\n### ", 1)[0]
    # The section's closing line (the per-arm reports) is not part of any subsection.
    return body.split("\nPer-arm reports with", 1)[0].strip("\n")
