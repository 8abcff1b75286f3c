"""Run a recipe: its stage's distillation pipeline, found in the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragdistill.recipes import Recipe, load_recipe
from ragdistill.stage import DistillationStage


def stage_of_recipe(recipe: Recipe) -> DistillationStage[Any]:
    """The registered stage that distills ``recipe``."""
    from ragdistill.registry import default_registry

    return default_registry().stage(recipe.stage)()


def run_recipe(
    recipe: Recipe | str | Path, *, restart: bool = False, show_progress: bool = True
) -> Path:
    """Distill what the recipe describes; returns the student artifact directory."""
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    return stage_of_recipe(recipe).distill(recipe, restart=restart, show_progress=show_progress)
