"""``ragdistill ab generator``: answer the same prompts with teacher and student."""

from __future__ import annotations

from pathlib import Path

import click

from ragdistill.cli.common import dataset_flags, runtime_flags


@click.command("generator")
@click.option("--teacher", required=True,
              help="Artifact dir, model folder or KIND:MODEL (hf-causal-lm:Qwen2.5-Coder-0.5B-Instruct).")  # fmt: skip
@click.option("--student", required=True, help="Artifact dir, model folder or KIND:MODEL.")
@click.option("--baseline", help="The student before distillation (a third arm), optional.")
@click.option("--retriever", default="all-MiniLM-L6-v2", show_default=True,
              help="The embedder that retrieves each question's contexts.")  # fmt: skip
@dataset_flags(
    "squad", judged="judged questions (gold answers where it has them)", example="eval_articles=6"
)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for ab.json, report.html, the index and the arms' answers.")  # fmt: skip
@click.option("--max-questions", type=click.IntRange(min=1), default=300, show_default=True)
@click.option("-k", "--k", "k", type=click.IntRange(min=1), default=3, show_default=True,
              help="Passages per prompt.")  # fmt: skip
@click.option("--unanswerable", type=click.FloatRange(0, 1, max_open=True), default=0.0,
              show_default=True, help="Share of questions whose gold passage is withheld.")  # fmt: skip
@click.option("--max-prompt-tokens", type=click.IntRange(min=64), default=1024, show_default=True)
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--latency-queries", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--n-bootstrap", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", help="Device of every arm (default cpu): a KIND:MODEL arm's `device` "
              "option, and the runtime's unless --runtime-option sets it.")  # fmt: skip
@runtime_flags
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def ab(
    teacher: str,
    student: str,
    baseline: str | None,
    retriever: str,
    dataset: str,
    data_path: Path | None,
    data_options: tuple[str, ...],
    out: Path,
    max_questions: int,
    k: int,
    unanswerable: float,
    max_prompt_tokens: int,
    max_new_tokens: int,
    latency_queries: int,
    n_bootstrap: int,
    seed: int,
    device: str | None,
    runtime: str | None,
    runtime_options: tuple[str, ...],
    quiet: bool,
) -> None:
    """Generation A/B with no recipe: every arm answers the same held-out prompts.

    Each judged question gets K passages retrieved by RETRIEVER (its gold passage placed
    among them, unless withheld), under the default grounded-answer prompt, cut to the
    student's budget by dropping low-ranked passages. Writes OUT/ab.json and
    OUT/report.html: EM and F1 against gold answers, agreement with the teacher,
    groundedness, abstention, answer length, time to first token and tokens/s, with
    paired-bootstrap CIs, and answers side by side. Artifact arms load through
    --runtime (default: torch).
    """
    from ragdistill.cli.common import cli_runtime, load_dataset
    from ragdistill.contracts import Embedder, Generator
    from ragdistill.data.splits import split_questions
    from ragdistill.generation.asking import arm_store
    from ragdistill.loading import load_arm
    from ragdistill.stages.generator.ab import run_generation_ab
    from ragdistill.stages.generator.ab_report import write_report
    from ragdistill.stages.generator.data import assemble, retrieve_contexts
    from ragdistill.stages.generator.evaluate import prompt_counter
    from ragdistill.stages.generator.options import ContextsSpec, PromptSpec
    from ragdistill.stages.generator.prompt import fit

    backend = cli_runtime(runtime, runtime_options, device)
    kind_options = {"device": device or "cpu"}
    data = load_dataset(dataset, data_path, data_options)
    _, eval_ids = split_questions(data, max_eval=max_questions, max_train=0, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    embedder = load_arm(retriever, stage=Embedder.stage, runtime=backend, kind_options=kind_options)
    spec = ContextsSpec(k=k, unanswerable=unanswerable, max_prompt_tokens=max_prompt_tokens,
                        seed=seed)  # fmt: skip
    retrieved = retrieve_contexts(data, embedder, eval_ids, depth=k + 2, index_dir=out / "index",
                                  saved=out / "contexts.json", show_progress=not quiet)  # fmt: skip
    examples = assemble(data, eval_ids, retrieved, spec, salt="eval")
    specs = {"teacher": teacher, "student": student, "baseline": baseline}
    arms = {
        n: load_arm(s, stage=Generator.stage, runtime=backend, kind_options=kind_options)
        for n, s in specs.items()
        if s
    }
    count = prompt_counter(arms["student"])
    prompt = PromptSpec()
    prompts = []
    for example in examples:
        got = fit(example, prompt, count, max_prompt_tokens)
        if got is not None:
            prompts.append((example, got.messages, got.dropped))
    result = run_generation_ab(
        prompts,
        arms,
        stores={n: arm_store(a, out / "answers") for n, a in arms.items()},
        abstain=prompt.abstain,
        dataset=data.stats(),
        max_new_tokens=max_new_tokens,
        latency_queries=latency_queries,
        n_bootstrap=n_bootstrap,
        seed=seed,
        show_progress=not quiet,
    )
    result.to_json(out / "ab.json")
    report = write_report(result, out / "report.html")
    click.echo(result.summary())
    click.echo(f"wrote {out / 'ab.json'} and {report}")
