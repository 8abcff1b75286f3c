"""What a distillable stage supplies: the class a ``register_stages`` hook registers.

A stage (the embedder, the reranker, a third party's) is one package that subclasses
:class:`DistillationStage`: it names its component contract, the model of its own
recipe options (the ``[<stage>]`` table), its distillation pipeline (recipe ->
artifact), its A/B (teacher vs student vs the student before distillation, JSON + HTML)
and its demo recipe. The core (recipes, the CLI, artifact loading) reaches a stage only
through the registry, never by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from ragdistill.contracts import Component

if TYPE_CHECKING:
    import click

    from ragdistill.recipes.schema import Recipe
    from ragdistill.registry import Registry


class StageOptions(BaseModel):
    """Base of a stage's own recipe options (its ``[<stage>]`` table); typos fail on load."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


OptionsT = TypeVar("OptionsT", bound=StageOptions)


class DistillationStage(ABC, Generic[OptionsT]):
    """One distillable stage of a RAG stack. Register it with ``register(name, cls)``.

    The registered name must equal ``contract.stage``: teachers and students of this
    stage are the registered components whose contract is ``contract``.
    """

    #: The component contract every teacher and student of this stage implements.
    contract: ClassVar[type[Component]]
    #: The model of the stage's ``[<stage>]`` recipe table.
    Options: ClassVar[type[StageOptions]] = StageOptions
    #: Options a recipe once wrote elsewhere, ``{"old.dotted.path": "option"}``. An old
    #: recipe is refused with an error naming the new place, and a moved option is
    #: fingerprinted at its old path, so checkpoints of a run begun before the move resume.
    moved_options: ClassVar[Mapping[str, str]] = {}
    #: Options added after checkpoints were first fingerprinted, with their "off" value:
    #: a recipe that leaves one off keeps its old fingerprint.
    later_options: ClassVar[Mapping[str, Any]] = {}
    #: ``(package, file)`` of the stage's demo recipe (``ragdistill quickstart``), if any.
    quickstart: ClassVar[tuple[str, str] | None] = None
    #: One line for ``ragdistill plugins`` and ``--help``.
    summary: ClassVar[str] = ""

    def options(self, recipe: Recipe) -> OptionsT:
        """The recipe's ``[<stage>]`` table, validated."""
        return self.Options.model_validate(recipe.stage_options)  # type: ignore[return-value]

    def check_recipe(self, recipe: Recipe, registry: Registry, where: str) -> None:
        """Validate what the stage options name in the registry (loads no model).

        Override to check, for example, a registered component named in the options.
        """

    @abstractmethod
    def distill(self, recipe: Recipe, *, restart: bool, show_progress: bool) -> Path:
        """Run the recipe end to end (resumable); return the student artifact folder."""

    @abstractmethod
    def ab_for_recipe(self, recipe: Recipe, artifact: Path, *, show_progress: bool) -> Path:
        """A/B the artifact against the recipe's teacher (and the student before
        distillation); write ``ab.json`` and ``report.html``, return the report's path."""

    @abstractmethod
    def ab_summary(self, report: Path) -> str:
        """A plain-text table of the A/B whose HTML report is ``report``, for the terminal."""

    def sweep_candidates(self, recipe: Recipe) -> list[dict[str, Any]]:
        """Candidate students to sweep when the recipe lists none (each a
        :class:`~ragdistill.recipes.schema.CandidateSpec` table); none by default."""
        return []

    def sweep_report(
        self, recipe: Recipe, artifacts: Mapping[str, Path], out: Path, *, show_progress: bool
    ) -> Path:
        """Compare the swept ``artifacts`` (candidate name -> artifact folder) with the
        teacher and the reference arms side by side; write the report under ``out`` and
        return its path. A stage that cannot compare candidates says so."""
        from ragdistill.errors import ConfigError

        raise ConfigError(
            f"the {recipe.stage!r} stage cannot compare sweep candidates yet; distill them "
            "with `ragdistill sweep --no-evaluate` and A/B each with `ragdistill ab`"
        )

    @abstractmethod
    def ab_command(self) -> click.Command:
        """``ragdistill ab <stage>``: an A/B of any teacher and student, no recipe needed."""
