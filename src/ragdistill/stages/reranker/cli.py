"""``ragdistill ab reranker``: rerank the same first-stage candidates with teacher and student."""

from __future__ import annotations

from pathlib import Path

import click

from ragdistill.cli.common import dataset_flags, runtime_flags


@click.command("reranker")
@click.option("--teacher", required=True,
              help="Artifact dir, model folder or KIND:MODEL (bi-encoder:all-mpnet-base-v2).")  # fmt: skip
@click.option("--student", required=True, help="Artifact dir, model folder or KIND:MODEL.")
@click.option("--baseline", help="The student before distillation (a third arm), optional.")
@click.option("--first-stage", default="all-MiniLM-L6-v2", show_default=True,
              help="The embedder that retrieves the candidates every arm reranks.")  # fmt: skip
@dataset_flags("tau2-banking", judged="judged queries", example="split=dev")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for ab.json, report.html and the first stage's index.")  # fmt: skip
@click.option(
    "--max-queries", type=click.IntRange(min=1), help="Evaluate the first N judged queries."
)
@click.option("-k", "--k", "k", type=click.IntRange(min=2), default=20, show_default=True,
              help="First-stage candidates each arm reranks per query.")  # fmt: skip
@click.option("--latency-candidates", default="20,50,100", show_default=True,
              help="Candidate-list sizes whose scoring latency is timed.")  # fmt: skip
@click.option("--latency-queries", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--n-bootstrap", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", help="Device of every model (default cpu): a KIND:MODEL arm's "
              "`device` option, and the runtime's unless --runtime-option sets it.")  # fmt: skip
@runtime_flags
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def ab(
    teacher: str,
    student: str,
    baseline: str | None,
    first_stage: str,
    dataset: str,
    data_path: Path | None,
    data_options: tuple[str, ...],
    out: Path,
    max_queries: int | None,
    k: int,
    latency_candidates: str,
    latency_queries: int,
    n_bootstrap: int,
    seed: int,
    device: str | None,
    runtime: str | None,
    runtime_options: tuple[str, ...],
    quiet: bool,
) -> None:
    """Reranking A/B with no recipe: every arm reorders the same first-stage candidates.

    The first stage retrieves each judged query's top candidates once (kept in
    OUT/candidates.json); the teacher, the student and the optional baseline score
    them. Writes OUT/ab.json and OUT/report.html: nDCG@10 and the other ranking
    metrics with paired-bootstrap CIs against the teacher, agreement with the teacher
    (Kendall's tau, top-10 overlap) and scoring latency by list size. Artifact arms
    (and the first stage, when it is one) load through --runtime (default: torch).
    """
    from ragdistill.cli.common import cli_runtime, load_dataset
    from ragdistill.contracts import Embedder, Reranker
    from ragdistill.errors import ConfigError
    from ragdistill.loading import load_arm
    from ragdistill.stages.reranker.ab import run_rerank_ab
    from ragdistill.stages.reranker.ab_report import write_rerank_report
    from ragdistill.stages.reranker.mining import collect_candidates, eval_query_ids

    try:
        sizes = [int(s) for s in latency_candidates.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(
            f"--latency-candidates {latency_candidates!r}: write sizes as 20,50,100"
        ) from None
    backend = cli_runtime(runtime, runtime_options, device)
    kind_options = {"device": device or "cpu"}
    data = load_dataset(dataset, data_path, data_options)
    retriever = load_arm(
        first_stage, stage=Embedder.stage, runtime=backend, kind_options=kind_options
    )
    candidates = collect_candidates(
        data,
        retriever,
        train_queries=[],
        eval_ids=eval_query_ids(data, max_queries),
        k=k,
        eval_depth=max([k, *sizes]),
        index_dir=out / "index",
        saved=out / "candidates.json",
        show_progress=not quiet,
    )
    specs = {"teacher": teacher, "student": student, "baseline": baseline}
    arms = {
        n: load_arm(s, stage=Reranker.stage, runtime=backend, kind_options=kind_options)
        for n, s in specs.items()
        if s
    }
    result = run_rerank_ab(
        data,
        candidates.eval,
        arms,
        k=k,
        first_stage={**retriever.describe(), "model": first_stage},
        latency_candidates=sizes,
        latency_queries=latency_queries,
        n_bootstrap=n_bootstrap,
        seed=seed,
        show_progress=not quiet,
    )
    result.to_json(out / "ab.json")
    report = write_rerank_report(result, out / "report.html")
    click.echo(result.summary())
    click.echo(f"wrote {out / 'ab.json'} and {report}")
