"""Run a recipe: its stage's distillation pipeline, found in the registry."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ragdistill.distill.lock import hold_output
from ragdistill.recipes import Recipe, load_recipe
from ragdistill.stage import DistillationStage

log = logging.getLogger(__name__)


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
        return distill_once(stage, recipe, restart=restart, show_progress=show_progress)


def distill_once(
    stage: DistillationStage[Any], recipe: Recipe, *, restart: bool, show_progress: bool
) -> Path:
    """``stage.distill(recipe)``, unless a run of this very recipe already saved its
    artifact (:func:`finished_artifact`): then that artifact, untouched. A finished run
    would otherwise load its data and teacher outputs, evaluate and save it once more."""
    if not restart and (done := finished_artifact(recipe)) is not None:
        log.info("%s: already distilled into %s", recipe.name, done)
        if show_progress:
            print(f"{recipe.name}: already distilled ({done}); --restart trains it again")
        return done
    return stage.distill(recipe, restart=restart, show_progress=show_progress)


def finished_artifact(recipe: Recipe) -> Path | None:
    """The artifact in the recipe's output, when its manifest says this recipe trained it
    (its fingerprint, or one an older release gave the same recipe), every file it lists
    is there, and so is the student before distillation where the A/B asks for one;
    None otherwise, and for artifacts saved before manifests carried the fingerprint.

    The data is not re-read: like a checkpoint resume, a finished run of the same recipe
    on changed files needs ``restart`` (its manifest keeps the fingerprint of the data
    it was trained on).
    """
    from ragdistill.artifacts import MANIFEST_NAME, read_manifest
    from ragdistill.errors import RagdistillError
    from ragdistill.recipes import recipe_fingerprints
    from ragdistill.students import artifact_dir

    output = Path(recipe.output)
    folder = artifact_dir(output)
    try:
        manifest = read_manifest(folder)
    except RagdistillError:  # damaged: the stage's run saves it anew
        return None
    if manifest is None or manifest.get("recipe_fingerprint") not in recipe_fingerprints(recipe):
        return None
    if any(not (folder / rel).is_file() for rel in manifest["files"]):
        return None
    # The stages save the student before distillation while they set up training.
    if recipe.evaluate.baseline and not (output / "baseline" / MANIFEST_NAME).is_file():
        return None
    return folder
