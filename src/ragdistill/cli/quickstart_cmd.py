"""``ragdistill quickstart [STAGE]``: a stage's demo on embedded defaults."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("stage", required=False)
@click.option("--stage", "stage_option", help="The stage, as an option (same as STAGE).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the recipe, student, indexes and report go (default: the demo's own).",
)
@click.option("--restart", is_flag=True, help="Discard checkpoints and train from scratch.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def quickstart(
    stage: str | None, stage_option: str | None, out: Path | None, restart: bool, quiet: bool
) -> None:
    """Run STAGE's demo recipe end to end: distill, then A/B (default: the first stage).

    With no STAGE, the embedder demo: all-mpnet-base-v2 into a pruned MiniLM on the tau2
    banking corpus. Pulls the offline models and data, labels the corpus with the
    teacher (cached), trains with checkpoints (re-run to resume) and writes an HTML A/B
    report. The recipe it runs is written to OUT/recipe.toml: edit it and run
    `ragdistill distill OUT/recipe.toml` to change anything.
    """
    import re
    from importlib import resources

    from ragdistill.distill import run_recipe, stage_of_recipe
    from ragdistill.errors import ConfigError
    from ragdistill.recipes import parse_recipe, tomllib
    from ragdistill.registry import default_registry

    if stage and stage_option and stage != stage_option:
        raise ConfigError(f"STAGE {stage!r} and --stage {stage_option!r} disagree; give one")
    stage = stage or stage_option
    if stage is not None:
        stage = stage.replace("-", "_")  # as `ragdistill ab query-transformer` spells it
    registry = default_registry()
    demos = [n for n in registry.stage_names() if registry.stage(n).quickstart is not None]
    if stage is None and demos:
        stage = demos[0]
    if stage not in demos:
        raise ConfigError(
            f"no stage {stage!r} with a demo recipe; stages with one: {', '.join(demos) or 'none'}"
        )
    package, name = registry.stage(stage).quickstart  # type: ignore[misc]
    text = resources.files(package).joinpath(name).read_text()
    if out is not None:
        text = re.sub(r'(?m)^output = ".*"$', f"output = {str(out)!r}", text, count=1)
    recipe = parse_recipe(tomllib.loads(text), where=f"{package}/{name}")
    folder = Path(recipe.output)
    folder.mkdir(parents=True, exist_ok=True)
    recipe_path = folder / "recipe.toml"
    recipe_path.write_text(text)
    click.echo(f"recipe: {recipe_path}")

    from ragdistill.distill.lock import hold_output

    with hold_output(folder):  # the A/B writes into the output folder too
        artifact = run_recipe(recipe, restart=restart, show_progress=not quiet)
        click.echo(f"student artifact: {artifact}")
        plugin = stage_of_recipe(recipe)
        report = plugin.ab_for_recipe(recipe, artifact, show_progress=not quiet)
    click.echo(plugin.ab_summary(report))
    click.echo(f"A/B report: {report}")
