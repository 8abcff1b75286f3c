"""``ragdistill quickstart``: the main job on embedded defaults."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/quickstart"),
    show_default=True,
    help="Where the recipe, student, indexes and report go.",
)
@click.option("--restart", is_flag=True, help="Discard checkpoints and train from scratch.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def quickstart(out: Path, restart: bool, quiet: bool) -> None:
    """Distill all-mpnet-base-v2 into a pruned MiniLM on the tau2 banking corpus, A/B both.

    Pulls the offline models and data, labels the corpus with the teacher (cached),
    trains with checkpoints (re-run to resume), indexes teacher, student and the
    student before distillation in embedded Chroma and writes an HTML A/B report.
    The recipe it runs is written to OUT/recipe.toml: edit it and run
    `ragdistill distill OUT/recipe.toml` to change anything.
    """
    from importlib import resources

    from ragdistill.recipes import parse_recipe, tomllib

    text = resources.files("ragdistill.recipes").joinpath("quickstart.toml").read_text()
    text = text.replace('output = "runs/quickstart"', f"output = {str(out)!r}")
    out.mkdir(parents=True, exist_ok=True)
    recipe_path = out / "recipe.toml"
    recipe_path.write_text(text)
    recipe = parse_recipe(tomllib.loads(text), where=str(recipe_path))
    click.echo(f"recipe: {recipe_path}")

    from ragdistill.distill import run_recipe
    from ragdistill.distill.evaluate import ab_for_recipe

    artifact = run_recipe(recipe, restart=restart, show_progress=not quiet)
    click.echo(f"student artifact: {artifact}")
    report = ab_for_recipe(recipe, artifact, show_progress=not quiet)
    from ragdistill.ab import ABResult

    click.echo(ABResult.from_json(report.parent / "ab.json").summary())
    click.echo(f"A/B report: {report}")
