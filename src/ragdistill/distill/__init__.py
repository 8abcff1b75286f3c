"""Run a recipe: its stage's distillation pipeline, found in the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragdistill.distill.lock import hold_output
from ragdistill.recipes import Recipe, load_recipe
from ragdistill.stage import DistillationStage


def stage_of_recipe(recipe: Recipe) -> DistillationStage[Any]:
    """The registered stage that distills ``recipe``."""
    from ragdistill.registry import default_registry

    return default_registry().stage(recipe.stage)()


def run_recipe(
    recipe: Recipe | str | Path, *, restart: bool = False, show_progress: bool = True
) -> Path:
    """Distill what the recipe describes; returns the student artifact directory.

    The recipe's output folder is locked for the run (:func:`hold_output`): a second run
    on it, from another process, fails at once naming the process that holds it.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    stage = stage_of_recipe(recipe)
    with hold_output(recipe.output):
        return stage.distill(recipe, restart=restart, show_progress=show_progress)
