"""The package's layering: no import circles, and a core that names no stage.

Imports inside functions count (a lazy import that closes a circle is still a lower layer
reaching up); imports under ``if TYPE_CHECKING:`` do not, since they never run.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import ragdistill

PACKAGE = Path(ragdistill.__file__).parent
ROOT = PACKAGE.parent


def modules() -> dict[str, Path]:
    out = {}
    for file in PACKAGE.rglob("*.py"):
        parts = file.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = file
    return out


def imported(name: str, file: Path, known: dict[str, Path]) -> set[str]:
    """The package modules ``name`` imports, at any depth but ``if TYPE_CHECKING:``."""
    tree = ast.parse(file.read_text())
    skipped = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
        for stmt in branch.body
        for node in ast.walk(stmt)
    }
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    # A package's own submodules are not an edge up.
    return {t for t in found if not name.startswith(t + ".")}


def import_cycles() -> list[list[str]]:
    known = modules()
    graph = {name: imported(name, file, known) for name, file in known.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_circles() -> None:
    cycles = import_cycles()
    assert not cycles, "import circles (a lower layer imports a higher one):\n" + "\n".join(
        "  " + " <-> ".join(c) for c in cycles
    )


def test_the_cycle_finder_finds_a_circle(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def f():\n    from pkg import b\n")
    (tmp_path / "b.py").write_text("from pkg import a\nif TYPE_CHECKING:\n    from pkg import c\n")
    (tmp_path / "c.py").write_text("from pkg import b\n")
    known = {f"pkg.{n}": tmp_path / f"{n}.py" for n in "abc"}
    assert imported("pkg.a", known["pkg.a"], known) == {"pkg.b"}
    assert imported("pkg.b", known["pkg.b"], known) == {"pkg.a"}  # TYPE_CHECKING skipped


BUILTIN_STAGE = re.compile(r"""'(embedder|reranker)'|"(embedder|reranker)\"""")
#: The contracts define the built-in stages' names; the stage packages register them.
MAY_NAME_A_STAGE = ("contracts/", "stages/")


def test_the_core_names_no_stage() -> None:
    offenders = []
    for file in PACKAGE.rglob("*.py"):
        rel = file.relative_to(PACKAGE).as_posix()
        if rel.startswith(MAY_NAME_A_STAGE):
            continue
        for number, line in enumerate(file.read_text().splitlines(), 1):
            if BUILTIN_STAGE.search(line):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    assert not offenders, "stage names spelled in the shared core:\n" + "\n".join(offenders)
