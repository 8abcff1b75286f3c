"""Find the Python blocks of the project's Markdown files, and run one file's blocks.

A file's blocks run in order, in a fresh interpreter (``python snippets.py JOB RESULT``),
as a reader pastes them one after the other: a variable a block defines (``index``,
``retriever``) is there for the blocks after it, but an import is not: each block
imports what it uses, so any one of them can be copied alone. A block runs after the
file's *given* code (the ``documents``, ``chat`` or ``user_id`` its prose assumes).

A block preceded by the line ``<!-- doc-test: skip (why) -->`` is not run; keep these rare
(``SKIPPED`` in ``test_readme_snippets.py`` lists them). ``<!-- doc-test: may raise Name -->``
lets a block end with that exception (a class of that name or a subclass), for a block
whose own comment says it may (a tiny model's output is never valid JSON). Model names in a block
(``"SmolLM2-135M-Instruct"``) are swapped for tiny local models of the same kind before it
runs; ``runs/...`` artifact paths exist in the folder it runs in.
"""

from __future__ import annotations

import ast
import builtins
import json
import linecache
import re
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_FENCE = re.compile(
    r"^(?:<!--\s*doc-test:\s*(?:skip\s*\((?P<why>[^)]+)\)|may\s+raise\s+(?P<raises>\w+))"
    r"\s*-->\n)?```(?:python|py|python3)\n(?P<code>.*?)^```\s*$",
    re.DOTALL | re.MULTILINE,
)
#: A skip marker with no reason, or not right above a block: refused, not ignored.
_ANY_MARKER = re.compile(r"<!--\s*doc-test\b.*?-->")


@dataclass(frozen=True)
class Block:
    path: str  # relative to the repository root
    index: int  # 1-based, among the file's Python blocks
    line: int  # of the block's first code line
    code: str
    skip: str | None = None
    #: An exception class name the block may end with (a tiny model's output, say).
    raises: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path}#{self.index} (line {self.line})"


def python_blocks(path: Path, root: Path) -> list[Block]:
    """Every fenced Python block of ``path``, with its skip marker if it has one."""
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(root).as_posix()
    blocks = []
    for i, match in enumerate(_FENCE.finditer(text)):
        line = text.count("\n", 0, match.start("code")) + 1
        why = match.group("why")
        skip = why.strip() if why else None
        blocks.append(Block(rel, i + 1, line, match.group("code"), skip, match.group("raises")))
    markers = len(_ANY_MARKER.findall(text))
    if markers != sum(b.skip is not None or b.raises is not None for b in blocks):
        raise ValueError(
            f"{rel}: a <!-- doc-test ... --> marker is malformed or not on the line right above "
            "a ```python fence; write <!-- doc-test: skip (the reason) --> or "
            "<!-- doc-test: may raise ExceptionName -->"
        )
    return blocks


def imported_names(code: str) -> set[str]:
    """Names a block binds by importing, outside functions and classes."""
    names: set[str] = set()
    pending: list[ast.AST] = list(ast.parse(code).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            pending.extend(ast.iter_child_nodes(node))
    return names


def unbound_names(code: str, known: set[str]) -> list[str]:
    """Names ``code`` reads (in functions too, which exec does not call) that nothing binds:
    not a builtin, not in ``known``, and never assigned, defined or imported in ``code``.
    Scopes are not told apart, so this misses some, but what it finds is missing."""
    tree = ast.parse(code)
    read: list[str] = []
    bound = set(known) | set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                read.append(node.id)
            else:
                bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            bound.update(node.names)
    return sorted({name for name in read if name not in bound})


def substitute(code: str, names: dict[str, str]) -> str:
    """``code`` with each quoted model name in ``names`` replaced by its stand-in."""
    for name, stand_in in names.items():
        for quote in ('"', "'"):
            code = code.replace(f"{quote}{name}{quote}", repr(stand_in))
    return code


def run(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Run a file's given code, then its blocks in order; one result per block."""
    carried: dict[str, Any] = {}
    results = []
    for kind, where, code, may_raise in [
        ("given", f"{job['path']} (given)", job["given"], None),
        *(("block", b["where"], b["code"], b["raises"]) for b in job["blocks"]),
    ]:
        source = substitute(code, job["names"])
        filename = f"<{where}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        missing = unbound_names(source, set(carried))
        namespace = {**carried, "__name__": "__doc_snippet__"}
        outcome: dict[str, Any] = {"where": where, "ok": True}
        try:
            exec(compile(source, filename, "exec"), namespace)
            if missing:
                raise NameError(
                    f"name {missing[0]!r} is not defined (read in the block, never imported "
                    f"or assigned in it; all: {', '.join(missing)})"
                )
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            if kind == "given":
                raise
            if not missing and may_raise in {cls.__name__ for cls in type(exc).__mro__}:
                outcome["raised"] = error
            else:
                outcome = {"where": where, "ok": False, "error": error,
                           "traceback": traceback.format_exc()[-4000:]}  # fmt: skip
        dropped = imported_names(source)
        carried.update(
            {k: v for k, v in namespace.items() if k not in dropped and not k.startswith("__")}
        )
        if kind == "block":
            results.append(outcome)
    return results


def job_for(blocks: list[Block], given: str, names: dict[str, str]) -> dict[str, Any]:
    runnable = [b for b in blocks if b.skip is None]
    return {
        "path": blocks[0].path if blocks else "",
        "given": given,
        "names": names,
        "blocks": [{**asdict(b), "where": b.where} for b in runnable],
    }


if __name__ == "__main__":
    job_path, result_path = Path(sys.argv[1]), Path(sys.argv[2])
    outcomes = run(json.loads(job_path.read_text()))
    result_path.write_text(json.dumps(outcomes))
