"""``ragdistill sweep``: several candidate students from one recipe, then one comparison.

Each candidate is the recipe with a few tables changed (:class:`CandidateSpec`): a
layer subset, a whole smaller model, a projection width, a reading length. All of them
learn from the same teacher, whose outputs the teacher cache holds after the first
candidate, so later candidates pay only for their own training. Candidates run one
after another (a small machine has one job's worth of CPU) and each resumes from its
checkpoints, so an interrupted sweep picks up where it stopped. The stage then runs
every candidate, the teacher and the reference arms side by side in one process and
reports the quality-speed frontier (:meth:`DistillationStage.sweep_report`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ragdistill.errors import ConfigError
from ragdistill.recipes import Recipe, parse_recipe
from ragdistill.recipes.candidates import candidate_recipe
from ragdistill.recipes.schema import CandidateSpec

log = logging.getLogger(__name__)

#: The candidate that is the recipe's own student, distilled into the recipe's output.
RECIPE_CANDIDATE = "recipe"


def sweep_folder(recipe: Recipe) -> Path:
    """Where a sweep of ``recipe`` writes its candidates and its report."""
    return Path(recipe.output) / "sweep"


def candidate_specs(recipe: Recipe) -> list[CandidateSpec]:
    """The recipe's ``[[sweep.candidates]]``, or the stage's own proposal without them."""
    from ragdistill.distill import stage_of_recipe

    spec = recipe.sweep
    listed = list(spec.candidates) if spec is not None else []
    if not listed:
        listed = [
            CandidateSpec.model_validate(c)
            for c in stage_of_recipe(recipe).sweep_candidates(recipe)
        ]
    if not listed:
        raise ConfigError(
            f"recipe {recipe.name!r} lists no [[sweep.candidates]] and its stage "
            f"{recipe.stage!r} proposes none; add candidates, e.g.\n"
            '  [[sweep.candidates]]\n  name = "small"\n  student = { keep_layers = [0, 5] }'
        )
    if any(c.name == RECIPE_CANDIDATE for c in listed):
        raise ConfigError(
            f"a sweep candidate cannot be named {RECIPE_CANDIDATE!r}: that is the recipe's own "
            "student (sweep.include_recipe); rename the candidate"
        )
    return listed


def candidate_recipes(recipe: Recipe) -> dict[str, Recipe]:
    """Every candidate as a full recipe, validated now: a typo in the tenth candidate
    fails before the first one trains. The recipe's own student comes first."""
    out: dict[str, Recipe] = {}
    if recipe.sweep is None or recipe.sweep.include_recipe:
        out[RECIPE_CANDIDATE] = recipe
    folder = sweep_folder(recipe) / "candidates"
    for candidate in candidate_specs(recipe):
        out[candidate.name] = candidate_recipe(
            recipe, candidate, folder / candidate.name, parse_recipe
        )
    return out


def run_sweep(
    recipe: Recipe,
    *,
    only: Sequence[str] = (),
    restart: bool = False,
    evaluate: bool = True,
    show_progress: bool = True,
) -> Path | None:
    """Distill every candidate (resuming each), then compare them all; returns the
    report's path (None with ``evaluate=False``).

    ``only`` names the candidates to distill in this call (the comparison still takes
    every candidate already distilled); ``restart`` discards the named candidates'
    checkpoints.
    """
    from ragdistill.distill import distill_once, stage_of_recipe
    from ragdistill.distill.lock import hold_output

    stage = stage_of_recipe(recipe)
    recipes = candidate_recipes(recipe)
    if unknown := sorted(set(only) - set(recipes)):
        raise ConfigError(
            f"no sweep candidate named {', '.join(map(repr, unknown))}; "
            f"the candidates are {', '.join(recipes)}"
        )
    todo = [name for name in recipes if not only or name in only]
    artifacts: dict[str, Path] = {}
    for number, name in enumerate(recipes, 1):
        sub = recipes[name]
        if name not in todo:
            found = _finished(sub)
            if found is not None:
                artifacts[name] = found
            continue
        log.info("sweep candidate %d of %d: %s", number, len(recipes), name)
        if show_progress:
            print(f"sweep candidate {number} of {len(recipes)}: {name} -> {sub.output}", flush=True)
        with hold_output(sub.output):
            artifacts[name] = distill_once(stage, sub, restart=restart, show_progress=show_progress)
    if not evaluate:
        return None
    with hold_output(sweep_folder(recipe)):
        return stage.sweep_report(
            recipe, artifacts, sweep_folder(recipe), show_progress=show_progress
        )


def _finished(recipe: Recipe) -> Path | None:
    """The artifact a candidate's earlier run saved, or None."""
    from ragdistill.artifacts import MANIFEST_NAME

    artifact = Path(recipe.output) / "student"
    return artifact if (artifact / MANIFEST_NAME).is_file() else None


def describe_candidate(recipe: Recipe, base: Recipe) -> dict[str, Any]:
    """What a candidate changes from the recipe it was swept from (for a report): per
    table, each option that differs (None: the candidate leaves it out)."""
    changed: dict[str, Any] = {}
    for table in ("student", "train", "stage_options"):
        mine, theirs = _plain(getattr(recipe, table)), _plain(getattr(base, table))
        diff = {k: mine.get(k) for k in [*mine, *(k for k in theirs if k not in mine)]
                if mine.get(k) != theirs.get(k)}  # fmt: skip
        if diff:
            changed[table] = diff
    if recipe.losses != base.losses:
        changed["losses"] = [loss.name for loss in recipe.losses]
    return changed


def _plain(table: Any) -> dict[str, Any]:
    data = table.model_dump(mode="json") if hasattr(table, "model_dump") else table
    return dict(data)
