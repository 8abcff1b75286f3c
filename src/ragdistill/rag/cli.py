"""``ragdistill ab report LOG.sqlite --out DIR``: the online A/B's report from its log."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument("log", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for ab.json and report.html.")  # fmt: skip
@click.option("--control", help="The control arm (default: the one the router named).")
@click.option("--n-bootstrap", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def report_command(log: Path, out: Path, control: str | None, n_bootstrap: int, seed: int) -> None:
    """Summarise a pipeline router's request log (LOG.sqlite): per arm, errors,
    latency, per-stage time, user feedback and shadow-pair agreement, with bootstrap
    CIs of each difference against the control.

    Writes OUT/ab.json and OUT/report.html (self-contained) and prints the summary.
    The log may still be written to: the report reads what is committed.
    """
    from ragdistill.rag.log_report import report_from_log
    from ragdistill.rag.report import write_report

    result = report_from_log(log, control=control, n_bootstrap=n_bootstrap, seed=seed)
    result.to_json(out / "ab.json")
    write_report(result, out / "report.html")
    click.echo(result.summary())
    click.echo(f"wrote {out / 'ab.json'} and {out / 'report.html'}")
