"""``ragdistill distill RECIPE``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import click


@click.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--restart", is_flag=True, help="Discard checkpoints and train from scratch.")
@click.option("--check", is_flag=True, help="Validate the recipe and exit; loads no model.")
@click.option("--no-ab", is_flag=True, help="Skip the A/B evaluation after training.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Label and train in N data-parallel processes (accelerate launch): one per GPU, "
    "or N CPU processes over gloo when the runtime trains on the CPU.",
)
def distill(
    recipe: Path, restart: bool, check: bool, no_ab: bool, quiet: bool, processes: int
) -> None:
    """Distill a teacher into a student as RECIPE (a TOML file) describes.

    Re-running the same recipe resumes from its last checkpoint and reuses every cached
    teacher output; once it has finished, it reuses the artifact (--restart trains
    again). Under ``accelerate launch`` (or with ``--processes N``) every process
    runs the recipe; only the first writes the output folder and runs the A/B.
    """
    from ragdistill.recipes import load_recipe

    parsed = load_recipe(recipe)
    if check:
        click.echo(f"{recipe}: valid {parsed.stage} recipe {parsed.name!r}")
        return
    from ragdistill.distill import distill_once, finished_artifact, run_recipe, stage_of_recipe
    from ragdistill.distill.accelerated import launch_command, launched
    from ragdistill.distill.checkpoint import latest_checkpoint
    from ragdistill.distill.lock import hold_output

    index, count = launched()
    done_before = None if restart else finished_artifact(parsed)
    # Finished: nothing to train, so no process group to start (the A/B runs here).
    if processes > 1 and count == 1 and done_before is None:
        flags = [f for f, on in [("--restart", restart), ("--no-ab", no_ab), ("-q", quiet)] if on]
        done = subprocess.run(launch_command(processes, ["distill", str(recipe), *flags]))
        raise SystemExit(done.returncode)
    if index > 0:  # a worker: the main process holds the output folder and writes it
        # The same test as the main process's, on the same files: all skip or all train.
        distill_once(stage_of_recipe(parsed), parsed, restart=restart, show_progress=False)
        _leave_group()
        return
    # The A/B writes into the output folder too: one run holds it from start to end.
    with hold_output(Path(parsed.output)):
        found = None if restart else latest_checkpoint(Path(parsed.output) / "checkpoints")
        if found is not None and done_before is None:
            click.echo(f"resuming from checkpoint {found.name}")
        artifact = run_recipe(parsed, restart=restart, show_progress=not quiet)
        click.echo(f"student artifact: {artifact}")
        if count > 1:
            _leave_group()  # the A/B runs in this process alone
        if parsed.evaluate.ab and not no_ab:
            stage = stage_of_recipe(parsed)
            report = stage.ab_for_recipe(parsed, artifact, show_progress=not quiet)
            click.echo(f"A/B report: {report}")


def _leave_group() -> None:
    """Close this process's part of the launcher's process group, if it joined one.

    Every process first waits for the others (a barrier): a worker that destroyed its part
    while the main process still worked with the group (writing the artifact) could abort
    at exit in gloo's threads ("terminate called without an active exception").
    """
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
