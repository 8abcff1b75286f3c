"""The generator stage: what ``register_stages`` registers for it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ragdistill.config import build_checked
from ragdistill.contracts import Embedder, Generator
from ragdistill.errors import ConfigError
from ragdistill.stage import DistillationStage
from ragdistill.stages.generator.options import GeneratorOptions

if TYPE_CHECKING:
    import click

    from ragdistill.recipes.schema import Recipe
    from ragdistill.registry import Registry


class GeneratorStage(DistillationStage[GeneratorOptions]):
    """Grounded answers from retrieved contexts; A/B: EM/F1, agreement, speed."""

    contract = Generator
    Options = GeneratorOptions
    quickstart = ("ragdistill.stages.generator", "quickstart.toml")
    summary = "answers from retrieved contexts; A/B: EM/F1, agreement, groundedness, speed"

    def check_recipe(self, recipe: Recipe, registry: Registry, where: str) -> None:
        from ragdistill.generation.tokenizers import LOGIT_LOSSES, check_logit_recipe

        options = self.options(recipe)
        retriever = options.contexts.embedder
        label = "generator.contexts.embedder"
        try:
            cls = registry.teacher(Embedder.stage, retriever.kind)
        except ConfigError as exc:
            raise ConfigError(f"{where}: [{label}] kind: {exc}") from None
        try:
            build_checked(cls, retriever.options, label)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        logit = sorted({s.name for s in recipe.losses} & LOGIT_LOSSES)
        if not logit:
            return
        teacher = options.teacher_tokenizer or recipe.teacher.options.get("model")
        check_logit_recipe(logit, top_logprobs=options.labels.top_logprobs,
                           table="generator.labels", teacher=teacher,
                           student=recipe.student.options.get("model"), where=where)  # fmt: skip
        if options.labels.rationale:
            raise ConfigError(
                f"{where}: [generator.labels] rationale = true trains on the rationale and "
                f"the answer as text, which {', '.join(logit)} cannot align token by token; "
                'use name = "sequence-kd" with rationales'
            )
        teacher_cls = registry.teacher(Generator.stage, recipe.teacher.kind)
        if options.teacher_tokenizer is None and not getattr(
            teacher_cls, "tokenizer_is_model", False
        ):
            raise ConfigError(
                f"{where}: losses {', '.join(logit)} need the teacher's tokenizer, which a "
                f"{recipe.teacher.kind!r} teacher does not expose: set [generator] "
                "teacher_tokenizer to the model or folder whose tokenizer it uses"
            )

    def distill(self, recipe: Recipe, *, restart: bool, show_progress: bool) -> Path:
        from ragdistill.stages.generator.pipeline import distill_generator

        return distill_generator(recipe, restart=restart, show_progress=show_progress)

    def ab_for_recipe(self, recipe: Recipe, artifact: Path, *, show_progress: bool) -> Path:
        from ragdistill.stages.generator.evaluate import ab_for_generator_recipe

        return ab_for_generator_recipe(recipe, artifact, show_progress=show_progress)

    def ab_summary(self, report: Path) -> str:
        from ragdistill.stages.generator.ab_result import GenerationABResult

        return GenerationABResult.from_json(report.parent / "ab.json").summary()

    def ab_command(self) -> click.Command:
        from ragdistill.stages.generator.cli import ab

        return ab
