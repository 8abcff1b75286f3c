"""The reranker stage: what ``register_stages`` registers for it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from ragdistill.config import build_checked
from ragdistill.contracts import Embedder, Reranker
from ragdistill.errors import ConfigError
from ragdistill.stage import DistillationStage
from ragdistill.stages.reranker.options import RerankerOptions

if TYPE_CHECKING:
    import click

    from ragdistill.recipes.schema import Recipe
    from ragdistill.registry import Registry


class RerankerStage(DistillationStage[RerankerOptions]):
    """Scores of (query, passage) pairs over first-stage candidates; A/B: reranking."""

    contract = Reranker
    Options = RerankerOptions
    moved_options: ClassVar[dict[str, str]] = {"candidates": "candidates"}
    quickstart = ("ragdistill.stages.reranker", "quickstart.toml")
    summary = "query-passage scores; A/B: reranking fixed first-stage candidates"

    def check_recipe(self, recipe: Recipe, registry: Registry, where: str) -> None:
        from ragdistill.stages.reranker.evaluate import check_dev_options

        try:  # a best-metric selection needs the dev split's metrics
            check_dev_options(recipe.train)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        first_stage = self.options(recipe).candidates.embedder
        label = f"{recipe.stage}.candidates.embedder"
        try:
            cls = registry.teacher(Embedder.stage, first_stage.kind)
        except ConfigError as exc:
            raise ConfigError(f"{where}: [{label}] kind: {exc}") from None
        try:  # constructed, as the teacher is: range checks run, no model loads
            build_checked(cls, first_stage.options, label)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def distill(self, recipe: Recipe, *, restart: bool, show_progress: bool) -> Path:
        from ragdistill.stages.reranker.pipeline import distill_reranker

        return distill_reranker(recipe, restart=restart, show_progress=show_progress)

    def ab_for_recipe(self, recipe: Recipe, artifact: Path, *, show_progress: bool) -> Path:
        from ragdistill.stages.reranker.evaluate import ab_for_reranker_recipe

        return ab_for_reranker_recipe(recipe, artifact, show_progress=show_progress)

    def ab_summary(self, report: Path) -> str:
        from ragdistill.stages.reranker.ab_result import RerankABResult

        return RerankABResult.from_json(report.parent / "ab.json").summary()

    def ab_command(self) -> click.Command:
        from ragdistill.stages.reranker.cli import ab

        return ab
