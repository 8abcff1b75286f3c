"""A sweep candidate as a whole recipe: the base recipe with the candidate's changes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

from ragdistill.recipes.schema import CandidateSpec, Recipe

if TYPE_CHECKING:
    from collections.abc import Callable


def candidate_recipe(
    recipe: Recipe,
    candidate: CandidateSpec,
    output: Path,
    parse: Callable[..., Recipe],
) -> Recipe:
    """``recipe`` changed as ``candidate`` says, writing to ``output``, validated by
    ``parse`` (:func:`ragdistill.recipes.parse_recipe`)."""
    data = copy.deepcopy(recipe.model_dump(mode="json", exclude={"sweep"}))
    student = candidate.student
    if "kind" in student or "model" in student:
        data["student"] = {"kind": data["student"]["kind"], **student}
    else:
        data["student"].update(student)
    data["train"].update(candidate.train)
    data["stage_options"].update(candidate.stage)
    if candidate.losses is not None:
        data["losses"] = candidate.losses
    data["output"] = str(output)
    data["name"] = f"{recipe.name}-{candidate.name}"
    return parse(data, where=f"sweep candidate {candidate.name!r}")
