"""``ragdistill ab query-transformer``: retrieve with every arm's queries, side by side."""

from __future__ import annotations

from pathlib import Path

import click

from ragdistill.cli.common import dataset_flags, runtime_flags


@click.command("query-transformer")
@click.option("--teacher", required=True,
              help="Artifact dir, model folder or KIND:MODEL (hf-llm:Qwen2.5-Coder-0.5B-Instruct).")  # fmt: skip
@click.option("--student", help="Artifact dir, model folder or KIND:MODEL (optional).")
@click.option("--baseline", help="The student before distillation (optional).")
@click.option("--task", type=click.Choice(["rewrite", "expand", "hyde"]), default="rewrite",
              show_default=True, help="What every KIND:MODEL arm is asked to do.")  # fmt: skip
@click.option("--num-queries", type=click.IntRange(min=2), default=3, show_default=True,
              help="Alternatives per query (expand).")  # fmt: skip
@click.option("--embedder", default="all-MiniLM-L6-v2", show_default=True,
              help="The fixed embedder every arm retrieves with (a model or KIND:MODEL).")  # fmt: skip
@dataset_flags(
    "squad", judged="judged queries (conversations need squad or tau2)", example="eval_articles=8"
)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for ab.json, report.html, the index and the arms' outputs.")  # fmt: skip
@click.option("--max-queries", type=click.IntRange(min=1), default=300, show_default=True)
@click.option("--latency-queries", type=click.IntRange(min=0), default=40, show_default=True)
@click.option("--depth", type=click.IntRange(min=10), default=100, show_default=True)
@click.option("--rrf-k", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--fuse-original/--no-fuse-original", default=True, show_default=True,
              help="Search the user's query too when fusing an expansion.")  # fmt: skip
@click.option("--n-bootstrap", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", help="Device of every KIND:MODEL arm (default cpu).")
@runtime_flags
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def ab(
    teacher: str, student: str | None, baseline: str | None, task: str, num_queries: int,
    embedder: str, dataset: str, data_path: Path | None, data_options: tuple[str, ...],
    out: Path, max_queries: int, latency_queries: int, depth: int, rrf_k: int,
    fuse_original: bool, n_bootstrap: int, seed: int, device: str | None,
    runtime: str | None, runtime_options: tuple[str, ...], quiet: bool,
) -> None:  # fmt: skip
    """Query-transformer A/B with no recipe: every arm transforms the same held-out
    queries, and one fixed EMBEDDER retrieves over the whole corpus with each arm's
    output (expansions fused by reciprocal rank). Arms: the raw query, TEACHER, STUDENT,
    BASELINE, and for conversations (--task rewrite, whose follow-ups TEACHER writes
    from the dataset's consecutive questions) the joined history and the gold
    stand-alone question. Writes OUT/ab.json and OUT/report.html: Recall@10/100 and
    nDCG@10, lift over the raw query and the share of the teacher's lift each arm keeps
    (paired-bootstrap CIs), malformed outputs, latency p50/p95 and throughput.
    """
    from ragdistill.cli.common import cli_runtime, load_dataset
    from ragdistill.contracts import Embedder, PromptedQueryTransformer, QueryTransformer
    from ragdistill.data.splits import split_questions
    from ragdistill.errors import ConfigError
    from ragdistill.generation.asking import arm_store
    from ragdistill.loading import load_arm
    from ragdistill.stages.query_transformer.data import conversation_candidates, plain_examples
    from ragdistill.stages.query_transformer.evaluate import evaluate_arms
    from ragdistill.stages.query_transformer.options import ABSpec, QueryTransformerOptions
    from ragdistill.stages.query_transformer.setup import write_follow_ups

    backend = cli_runtime(runtime, runtime_options, device)
    kind_options = {"device": device or "cpu", "task": task, "num_queries": num_queries}
    data = load_dataset(dataset, data_path, data_options)
    options = QueryTransformerOptions(task=task, num_queries=num_queries)
    specs = {"teacher": teacher, "student": student, "baseline": baseline}
    models = {
        n: load_arm(s, stage=QueryTransformer.stage, runtime=backend, kind_options=kind_options)
        for n, s in specs.items()
        if s
    }
    show = not quiet
    if task == "rewrite":
        oversampled = int(max_queries * options.conversation.oversample) + 1
        _, eval_ids = split_questions(data, max_eval=oversampled, max_train=0, seed=seed)
        if not isinstance(models["teacher"], PromptedQueryTransformer):
            raise ConfigError(
                "--task rewrite builds conversations whose follow-ups the teacher writes: "
                "--teacher must prompt a generator (e.g. hf-llm:MODEL or a distilled hf-llm)"
            )
        store = arm_store(models["teacher"].generator, out / "outputs")
        candidates = conversation_candidates(data, eval_ids, options.conversation)
        examples, _ = write_follow_ups(models["teacher"], store, candidates, options,
                                       show_progress=show)  # fmt: skip
        examples = examples[:max_queries]
    else:
        _, eval_ids = split_questions(data, max_eval=max_queries, max_train=0, seed=seed)
        examples = plain_examples(data, eval_ids)
    retriever = load_arm(embedder, stage=Embedder.stage, runtime=backend,
                         kind_options={"device": device or "cpu"})  # fmt: skip
    spec = ABSpec(depth=depth, rrf_k=rrf_k, fuse_original=fuse_original,
                  latency_queries=latency_queries)  # fmt: skip
    report = evaluate_arms(
        examples, models, dataset=data, embedder=retriever, out=out, task=task,
        num_queries=num_queries if task == "expand" else 1, spec=spec,
        n_bootstrap=n_bootstrap, seed=seed, show_progress=show,
    )  # fmt: skip
    from ragdistill.stages.query_transformer.ab_result import QueryABResult

    click.echo(QueryABResult.from_json(out / "ab.json").summary())
    click.echo(f"\nreport: {report}")
