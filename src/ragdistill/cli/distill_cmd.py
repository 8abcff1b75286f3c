"""``ragdistill distill RECIPE``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--restart", is_flag=True, help="Discard checkpoints and train from scratch.")
@click.option("--check", is_flag=True, help="Validate the recipe and exit; loads no model.")
@click.option("--no-ab", is_flag=True, help="Skip the A/B evaluation after training.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def distill(recipe: Path, restart: bool, check: bool, no_ab: bool, quiet: bool) -> None:
    """Distill a teacher into a student as RECIPE (a TOML file) describes.

    Re-running the same recipe resumes from its last checkpoint and reuses every cached
    teacher output.
    """
    from ragdistill.recipes import load_recipe

    parsed = load_recipe(recipe)
    if check:
        click.echo(f"{recipe}: valid {parsed.stage} recipe {parsed.name!r}")
        return
    from ragdistill.distill import run_recipe, stage_of_recipe
    from ragdistill.distill.checkpoint import latest_checkpoint
    from ragdistill.distill.lock import hold_output

    # The A/B writes into the output folder too: one run holds it from start to end.
    with hold_output(Path(parsed.output)):
        found = None if restart else latest_checkpoint(Path(parsed.output) / "checkpoints")
        if found is not None:
            click.echo(f"resuming from checkpoint {found.name}")
        artifact = run_recipe(parsed, restart=restart, show_progress=not quiet)
        click.echo(f"student artifact: {artifact}")
        if parsed.evaluate.ab and not no_ab:
            stage = stage_of_recipe(parsed)
            report = stage.ab_for_recipe(parsed, artifact, show_progress=not quiet)
            click.echo(f"A/B report: {report}")
