"""``ragdistill ab pipeline SPEC``: every arm of a pipeline spec on the same questions."""

from __future__ import annotations

from pathlib import Path

import click

from ragdistill.cli.common import dataset_flags


@click.command("pipeline")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@dataset_flags(
    "squad", judged="judged questions (gold answers where it has them)", example="eval_articles=6"
)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for ab.json, report.html, the indexes and every arm's answers.")  # fmt: skip
@click.option("--max-questions", type=click.IntRange(min=1), default=300, show_default=True,
              help="Judged questions evaluated (a seeded sample).")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--warmup", type=click.IntRange(min=0), default=2, show_default=True,
              help="Questions each arm answers untimed first, each session.")  # fmt: skip
@click.option("--max-minutes", type=click.FloatRange(min=0), default=None,
              help="Stop starting questions after this long and report what is done; "
              "the same command resumes.")  # fmt: skip
@click.option("--n-bootstrap", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--device", help="Device for every arm's components (default cpu).")
@click.option("--allow-network", is_flag=True,
              help="Let artifacts whose loader calls a server (an API teacher) load.")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def pipeline_command(
    spec_path: Path,
    dataset: str,
    data_path: Path | None,
    data_options: tuple[str, ...],
    out: Path,
    max_questions: int,
    seed: int,
    warmup: int,
    max_minutes: float | None,
    n_bootstrap: int,
    device: str | None,
    allow_network: bool,
    quiet: bool,
) -> None:
    """Offline A/B of whole RAG pipelines: every arm of SPEC (plus, with `ablate = true`,
    the control with one stage swapped at a time) answers the same judged questions,
    interleaved one at a time. Writes OUT/ab.json and OUT/report.html: answer F1/EM,
    agreement with the control, context recall, nDCG@10, groundedness, latency per stage
    and end to end, throughput, memory and cost per 1,000 queries, with paired-bootstrap
    CIs against the control. Resumes when run again.
    """
    from ragdistill.cli.common import load_dataset
    from ragdistill.data.splits import split_questions
    from ragdistill.distill.lock import hold_output
    from ragdistill.rag.components import ComponentPool
    from ragdistill.rag.offline import run_offline_ab
    from ragdistill.rag.report import write_report
    from ragdistill.rag.spec import load_spec

    spec = load_spec(spec_path)
    data = load_dataset(dataset, data_path, data_options)
    _, eval_ids = split_questions(data, max_eval=max_questions, max_train=0, seed=seed)
    with hold_output(out):
        pool = ComponentPool(allow_network=allow_network, device=device)
        result = run_offline_ab(spec, data, eval_ids, out, pool=pool, warmup=warmup,
                                n_bootstrap=n_bootstrap, seed=seed, show_progress=not quiet,
                                max_minutes=max_minutes)  # fmt: skip
        result.to_json(out / "ab.json")
        report = write_report(result, out / "report.html")
    click.echo(result.summary())
    click.echo(f"wrote {out / 'ab.json'} and {report}")
