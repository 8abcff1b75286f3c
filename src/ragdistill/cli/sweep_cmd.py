"""``ragdistill sweep RECIPE``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--only", multiple=True, metavar="NAME",
              help="Distill only this candidate (repeatable); the comparison still takes "
              "every candidate distilled so far.")  # fmt: skip
@click.option("--list", "list_only", is_flag=True,
              help="List the candidates (validated) and exit; trains nothing.")  # fmt: skip
@click.option("--restart", is_flag=True, help="Discard the candidates' checkpoints.")
@click.option("--no-evaluate", is_flag=True, help="Distill only; skip the comparison.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def sweep(
    recipe: Path, only: tuple[str, ...], list_only: bool, restart: bool, no_evaluate: bool,
    quiet: bool,
) -> None:  # fmt: skip
    """Distill several candidate students from RECIPE and chart quality against speed.

    The candidates are the recipe's [[sweep.candidates]] (or, without any, the stage's
    own proposal) plus the recipe's own student. They learn one after another from the
    one cached teacher; re-running resumes each. Then every candidate, the teacher and
    the reference arms ([evaluate] references) run side by side, and the report marks
    the Pareto frontier of quality against query-encode speed.
    """
    from ragdistill.distill.sweep import candidate_recipes, describe_candidate, run_sweep
    from ragdistill.recipes import load_recipe

    parsed = load_recipe(recipe)
    if list_only:
        for name, sub in candidate_recipes(parsed).items():
            changes = describe_candidate(sub, parsed) or "the recipe as written"
            click.echo(f"{name}: {changes} -> {sub.output}")
        return
    report = run_sweep(parsed, only=only, restart=restart, evaluate=not no_evaluate,
                       show_progress=not quiet)  # fmt: skip
    if report is not None:
        click.echo(f"sweep report: {report}")
