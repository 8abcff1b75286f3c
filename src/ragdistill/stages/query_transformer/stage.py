"""The query-transformer stage: what ``register_stages`` registers for it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ragdistill.config import build_checked
from ragdistill.contracts import Embedder, QueryTransformer
from ragdistill.errors import ConfigError
from ragdistill.stage import DistillationStage
from ragdistill.stages.query_transformer.options import QueryTransformerOptions

if TYPE_CHECKING:
    import click

    from ragdistill.recipes.schema import Recipe
    from ragdistill.registry import Registry


class QueryTransformerStage(DistillationStage[QueryTransformerOptions]):
    """Conversational rewrite, multi-query expansion and HyDE; A/B: retrieval with a
    fixed embedder (Recall@10/100, nDCG@10, lift over the raw query), latency."""

    contract = QueryTransformer
    Options = QueryTransformerOptions
    quickstart = ("ragdistill.stages.query_transformer", "quickstart.toml")
    summary = "rewrite, expansion and HyDE; A/B: retrieval lift over the raw query, speed"

    def check_recipe(self, recipe: Recipe, registry: Registry, where: str) -> None:
        from ragdistill.generation.tokenizers import LOGIT_LOSSES, check_logit_recipe

        options = self.options(recipe)
        embedder = options.ab.embedder
        label = "query_transformer.ab.embedder"
        try:
            build_checked(registry.teacher(Embedder.stage, embedder.kind), embedder.options, label)
        except ConfigError as exc:
            raise ConfigError(f"{where}: [{label}] {exc}") from None
        teacher_cls = registry.teacher(QueryTransformer.stage, recipe.teacher.kind)
        if not all(hasattr(teacher_cls, name) for name in ("generation_request", "parse")):
            raise ConfigError(
                f"{where}: [teacher] kind {recipe.teacher.kind!r} cannot be distilled: the stage "
                "stores the teacher's own generations, so it needs a query transformer that "
                'prompts a generator (generation_request(), parse()), such as kind = "hf-llm"'
            )
        task = recipe.teacher.options.get("task")
        if task not in (None, "auto", options.task):
            raise ConfigError(
                f'{where}: [teacher] task = "{task}" but [query_transformer] task = '
                f'"{options.task}"; the stage tells the teacher its task: remove [teacher] task'
            )
        logit = sorted({s.name for s in recipe.losses} & LOGIT_LOSSES)
        if not logit:
            return
        student_cls = registry.student(QueryTransformer.stage, recipe.student.kind)
        if getattr(student_cls, "loader", "") != "hf-llm":
            raise ConfigError(
                f"{where}: losses {', '.join(logit)} align the teacher's tokens with a causal "
                f'LM student\'s; a {recipe.student.kind!r} student learns with name = "sequence-kd"'
            )
        teacher = options.teacher_tokenizer or recipe.teacher.options.get("model")
        check_logit_recipe(logit, top_logprobs=options.labels.top_logprobs,
                           table="query_transformer.labels", teacher=teacher,
                           student=recipe.student.options.get("model"), where=where)  # fmt: skip

    def distill(self, recipe: Recipe, *, restart: bool, show_progress: bool) -> Path:
        from ragdistill.stages.query_transformer.pipeline import distill_query_transformer

        return distill_query_transformer(recipe, restart=restart, show_progress=show_progress)

    def ab_for_recipe(self, recipe: Recipe, artifact: Path, *, show_progress: bool) -> Path:
        from ragdistill.stages.query_transformer.evaluate import ab_for_query_recipe

        return ab_for_query_recipe(recipe, artifact, show_progress=show_progress)

    def ab_summary(self, report: Path) -> str:
        from ragdistill.stages.query_transformer.ab_result import QueryABResult

        return QueryABResult.from_json(report.parent / "ab.json").summary()

    def ab_command(self) -> click.Command:
        from ragdistill.stages.query_transformer.cli import ab

        return ab
