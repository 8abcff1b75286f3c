"""``ragdistill ab embedder``: compare a student embedder's retrieval with its teacher's."""

from __future__ import annotations

from pathlib import Path

import click

from ragdistill.cli.common import dataset_flags, runtime_flags


@click.command("embedder")
@click.option("--teacher", required=True,
              help="Artifact dir, model folder, model name or KIND:MODEL.")  # fmt: skip
@click.option("--student", required=True,
              help="Artifact dir, model folder, model name or KIND:MODEL.")  # fmt: skip
@click.option("--baseline", help="The student before distillation (a third arm), optional.")
@click.option("--reference", "references", multiple=True, metavar="MODEL",
              help="A model a user could pick instead (an off-the-shelf small embedder): an "
              "arm of its own, which the student is compared with. Repeatable.")  # fmt: skip
@click.option("--teacher-cache/--no-teacher-cache", default=True, show_default=True,
              help="Build the teacher's index through the teacher cache, so passages a "
              "distillation (or an earlier A/B) embedded are not embedded again.")  # fmt: skip
@dataset_flags(
    "tau2-banking", judged="judged queries (see `ragdistill plugins --all`)", example="split=dev"
)
@click.option("--index-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".ragdistill/chroma"), show_default=True,
              help="Folder of the embedded Chroma indexes.")  # fmt: skip
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for ab.json and report.html.")  # fmt: skip
@click.option("--max-queries", type=click.IntRange(min=1), help="Evaluate the first N queries.")
@click.option("-k", "--k", "k", type=click.IntRange(min=1), default=100, show_default=True,
              help="Documents retrieved per query.")  # fmt: skip
@click.option("--n-bootstrap", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--speed-rounds",
    type=click.IntRange(1, 50),
    default=3,
    show_default=True,
    help="Rounds of the encode-speed measurement, every arm in turn once all are "
    "indexed; the median round counts (more rounds: steadier on a busy machine).",
)
@click.option("--chroma-host", help="Use a Chroma server instead of the embedded store.")
@click.option("--chroma-port", type=int, help="Port of the Chroma server (default 8000).")
@click.option("--rebuild", is_flag=True, help="Drop and rebuild the indexes.")
@click.option("--device", help="Device of every arm (default cpu): a KIND:MODEL arm's `device` "
              "option, and the runtime's unless --runtime-option sets it.")  # fmt: skip
@runtime_flags
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def ab(
    teacher: str,
    student: str,
    baseline: str | None,
    references: tuple[str, ...],
    teacher_cache: bool,
    dataset: str,
    data_path: Path | None,
    data_options: tuple[str, ...],
    index_dir: Path,
    out: Path,
    max_queries: int | None,
    k: int,
    n_bootstrap: int,
    seed: int,
    speed_rounds: int,
    chroma_host: str | None,
    chroma_port: int | None,
    rebuild: bool,
    device: str | None,
    runtime: str | None,
    runtime_options: tuple[str, ...],
    quiet: bool,
) -> None:
    """Retrieval A/B: the same queries through the teacher's and the student's index.

    Add --reference for each model you would otherwise use (the student's own starting
    model, an off-the-shelf small embedder): the report says whether the student beat it.
    Writes OUT/ab.json (every number, per-query metrics included) and OUT/report.html
    (self-contained: tables and plots, no external assets). Artifact arms load through
    --runtime (default: torch).
    """
    from ragdistill.cli.common import cli_runtime, load_dataset
    from ragdistill.contracts import Embedder
    from ragdistill.loading import load_arm
    from ragdistill.stages.embedder.ab import reference_name, run_retrieval_ab
    from ragdistill.stages.embedder.ab_report import write_html_report

    backend = cli_runtime(runtime, runtime_options, device)
    data = load_dataset(dataset, data_path, data_options)
    arms = {"teacher": teacher, "student": student, "baseline": baseline}
    kind_options = {"device": device or "cpu"}
    embedders = {
        n: load_arm(spec, stage=Embedder.stage, runtime=backend, kind_options=kind_options)
        for n, spec in arms.items()
        if spec
    }
    refs = {
        reference_name(spec): load_arm(
            spec, stage=Embedder.stage, runtime=backend, kind_options=kind_options
        )
        for spec in references
    }
    index_embedders = {}
    if teacher_cache:
        from ragdistill.distill.cached_teacher import CachedEmbedder

        index_embedders["teacher"] = CachedEmbedder(embedders["teacher"])
    result = run_retrieval_ab(
        data,
        embedders["teacher"],
        embedders["student"],
        baseline=embedders.get("baseline"),
        references=refs,
        index_embedders=index_embedders,
        index_dir=None if chroma_host else index_dir,
        k=k,
        max_queries=max_queries,
        chroma_host=chroma_host,
        chroma_port=chroma_port,
        rebuild=rebuild,
        n_bootstrap=n_bootstrap,
        seed=seed,
        throughput_rounds=speed_rounds,
        show_progress=not quiet,
    )
    result.to_json(out / "ab.json")
    report = write_html_report(result, out / "report.html")
    click.echo(result.summary())
    click.echo(f"wrote {out / 'ab.json'} and {report}")
