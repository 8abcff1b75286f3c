"""Every TOML block in every README parses, and every complete recipe among them is valid.

A block with ``stage``, ``name`` and ``output`` is a whole recipe: it goes through the same
validation as ``ragdistill distill --check`` (no model loads). Other blocks are fragments
of one and must at least be valid TOML.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ragdistill.recipes import parse_recipe, tomllib

ROOT = Path(__file__).resolve().parents[2]
READMES = sorted(
    [ROOT / "README.md", *ROOT.glob("plugins/*/README.md"), *ROOT.glob("integrations/*/README.md"),
     *ROOT.glob("docs/*.md")]
)  # fmt: skip
BLOCK = re.compile(r"```toml\n(.*?)```", re.DOTALL)
#: Recipes that name a plugin's kinds: tests/core/test_plugin_example.py runs
#: docs/plugins.md's with that plugin installed (it is the example's recipe.toml).
NEEDS_A_PLUGIN = ("docs/plugins.md#",)


def blocks() -> list[tuple[str, str]]:
    out = []
    for path in READMES:
        for i, text in enumerate(BLOCK.findall(path.read_text(encoding="utf-8"))):
            out.append((f"{path.relative_to(ROOT)}#{i + 1}", text))
    return out


@pytest.mark.parametrize(("where", "text"), blocks(), ids=[w for w, _ in blocks()])
def test_toml_block(where: str, text: str) -> None:
    data = tomllib.loads(text)
    if {"stage", "name", "output"} <= set(data) and not where.startswith(NEEDS_A_PLUGIN):
        parse_recipe(data, where=where)


def test_the_readme_shows_whole_recipes() -> None:
    whole = [w for w, t in blocks() if w.startswith("README.md")
             and {"stage", "name", "output"} <= set(tomllib.loads(t))]  # fmt: skip
    assert len(whole) >= 2, whole


STAGE_RECIPES = sorted(ROOT.glob("src/ragdistill/stages/*/*.toml"))


@pytest.mark.parametrize("path", STAGE_RECIPES, ids=[p.name for p in STAGE_RECIPES])
def test_shipped_recipes_are_valid(path: Path) -> None:
    parse_recipe(tomllib.loads(path.read_text(encoding="utf-8")), where=str(path))
