"""The embedder stage: what ``register_stages`` registers for it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ragdistill.contracts import Embedder
from ragdistill.stage import DistillationStage
from ragdistill.stages.embedder.options import EmbedderOptions

if TYPE_CHECKING:
    import click

    from ragdistill.recipes.schema import Recipe
    from ragdistill.registry import Registry


class EmbedderStage(DistillationStage[EmbedderOptions]):
    """Embeddings of texts: the teacher's vectors are the targets, retrieval the A/B."""

    contract = Embedder
    Options = EmbedderOptions
    moved_options: ClassVar[dict[str, str]] = {"train.teacher_pairs": "teacher_pairs"}
    later_options: ClassVar[dict[str, object]] = {"teacher_pairs": False}
    quickstart = ("ragdistill.stages.embedder", "quickstart.toml")
    summary = "text embeddings; A/B: retrieval from an embedded Chroma index"

    def check_recipe(self, recipe: Recipe, registry: Registry, where: str) -> None:
        from ragdistill.errors import ConfigError
        from ragdistill.stages.embedder.pipeline import check_dev_options

        try:
            check_dev_options(recipe.train)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def distill(self, recipe: Recipe, *, restart: bool, show_progress: bool) -> Path:
        from ragdistill.stages.embedder.pipeline import distill_embedder

        return distill_embedder(recipe, restart=restart, show_progress=show_progress)

    def ab_for_recipe(self, recipe: Recipe, artifact: Path, *, show_progress: bool) -> Path:
        from ragdistill.stages.embedder.evaluate import ab_for_recipe

        return ab_for_recipe(recipe, artifact, show_progress=show_progress)

    def sweep_candidates(self, recipe: Recipe) -> list[dict[str, Any]]:
        from ragdistill.stages.embedder.sweep import default_candidates

        return default_candidates(recipe)

    def sweep_report(
        self, recipe: Recipe, artifacts: Mapping[str, Path], out: Path, *, show_progress: bool
    ) -> Path:
        from ragdistill.stages.embedder.sweep import sweep_report

        return sweep_report(recipe, artifacts, out, show_progress=show_progress)

    def ab_summary(self, report: Path) -> str:
        from ragdistill.stages.embedder.ab_result import ABResult

        return ABResult.from_json(report.parent / "ab.json").summary()

    def ab_command(self) -> click.Command:
        from ragdistill.stages.embedder.cli import ab

        return ab
