"""Run a recipe: dispatch to the stage's distillation pipeline."""

from __future__ import annotations

import importlib
from pathlib import Path

from ragdistill.errors import ConfigError
from ragdistill.recipes import Recipe, load_recipe

# stage -> "module:function"; a function takes (recipe, *, restart, show_progress) -> Path.
PIPELINES = {
    "embedder": "ragdistill.distill.embedder:distill_embedder",
    "reranker": "ragdistill.distill.reranker:distill_reranker",
}


def run_recipe(
    recipe: Recipe | str | Path, *, restart: bool = False, show_progress: bool = True
) -> Path:
    """Distill what the recipe describes; returns the student artifact directory."""
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    target = PIPELINES.get(recipe.stage)
    if target is None:
        raise ConfigError(
            f"stage {recipe.stage!r} has no distillation pipeline yet; "
            f"supported: {', '.join(PIPELINES)}"
        )
    module, func = target.split(":")
    pipeline = getattr(importlib.import_module(module), func)
    artifact: Path = pipeline(recipe, restart=restart, show_progress=show_progress)
    return artifact
