"""Query-transformer distillation: examples, teacher outputs (stored), training, artifact.

1. Queries are split (evaluated ones held out with their articles); for conversational
   rewrite the teacher first writes each question's follow-up form
   (:mod:`ragdistill.stages.query_transformer.setup`).
2. The teacher transforms every training and evaluated query once, ever: its raw
   generations (and top-k log-probs when asked) go to a kill-safe store keyed by the
   prompt's content.
3. Each generation is parsed as the teacher's own :meth:`parse` reads it; empty or
   malformed ones are dropped and counted. The student learns the canonical form:
   one query, ``q1 ||| q2 ||| q3``, or the passage.
4. The student (a causal LM on the teacher's prompt, or a seq2seq model on the
   conversation) learns through the recipe's losses, and is saved with a manifest that
   loads it as the same kind of query transformer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ragdistill.artifacts import save_staged, write_manifest
from ragdistill.config import build
from ragdistill.errors import ConfigError
from ragdistill.generation.asking import ask
from ragdistill.generation.logprobs import logprob_converter
from ragdistill.generation.rows import TrainRow, teacher_batch, token_row
from ragdistill.query_parsing import join_queries
from ragdistill.recipes import Recipe, public_recipe, recipe_fingerprint, recipe_fingerprints
from ragdistill.stages.query_transformer.data import QueryExample
from ragdistill.stages.query_transformer.setup import QuerySetup, prepare
from ragdistill.students.seeding import seeded_init

#: The encoder input's task prefix of a seq2seq student (T5 convention).
SEQ2SEQ_PREFIX = {"rewrite": "rewrite: ", "expand": "expand: ", "hyde": "passage: "}


def target_text(setup: QuerySetup, example: QueryExample, text: str) -> str | None:
    """The canonical form of the teacher's reply, or None when nothing parses."""
    found = setup.teacher.parse(text, example.request(setup.num_queries))
    if not found:
        return None
    return join_queries(found) if setup.options.task == "expand" else found[0]


def label(setup: QuerySetup, examples: list[QueryExample], convert: Any, *,
          show_progress: bool) -> list[str]:  # fmt: skip
    """Every example's store key, after asking the teacher for what is missing."""
    requests = [setup.teacher_request(e) for e in examples]
    keys, _ = ask(setup.teacher.generator, requests, setup.store, convert=convert,
                  show_progress=show_progress, desc="teacher transforms")  # fmt: skip
    return keys


def encoder(setup: QuerySetup, model: Any) -> Any:
    """``example -> prompt ids`` as the student reads them at inference."""
    if hasattr(model, "source_ids"):  # seq2seq: the conversation, task-prefixed
        from ragdistill.hf.query_transformers import Seq2SeqQueryTransformer

        reader = Seq2SeqQueryTransformer("unused", prefix=SEQ2SEQ_PREFIX[setup.options.task])
        return lambda e: model.source_ids(reader.source(e.request(setup.num_queries)))
    return lambda e: model.prompt_ids(_messages(setup, e))


def _messages(setup: QuerySetup, example: QueryExample) -> list[dict[str, str]]:
    if setup.options.student_prompt == "bare":
        from ragdistill.hf.query_transformers import render, transcript

        history = transcript(example.history) if example.history else ""
        text = render(student_prompts(setup, bare=True), setup.options.task, example.query,
                      history, setup.options.num_queries)  # fmt: skip
        return [{"role": "user", "content": text}]
    req = setup.teacher_request(example, logprobs=False)
    return [{"role": m.role, "content": m.content} for m in req.messages]


def student_prompts(setup: QuerySetup, *, bare: bool) -> dict[str, str]:
    """The prompts the causal student reads: the teacher's, or bare ones."""
    from ragdistill.hf.query_transformers import BARE_PROMPT

    prompts: dict[str, str] = dict(getattr(setup.teacher, "prompts", {}))
    return dict.fromkeys(prompts or ("rewrite", "expand", "hyde"), BARE_PROMPT) if bare else prompts


def distill_query_transformer(
    recipe: Recipe, *, restart: bool = False, show_progress: bool = True,
    stop_after_labelling: bool = False,
) -> Path:  # fmt: skip
    """Run a query-transformer recipe end to end; returns the artifact directory."""
    from ragdistill.distill.loop import train
    from ragdistill.generation.tokenizers import LOGIT_LOSSES, check_shared_tokenizer
    from ragdistill.losses.compose import build_losses
    from ragdistill.registry import default_registry

    registry = default_registry()
    output = Path(recipe.output)
    if restart:
        shutil.rmtree(output / "checkpoints", ignore_errors=True)
        (output / "train_log.jsonl").unlink(missing_ok=True)
    output.mkdir(parents=True, exist_ok=True)
    (output / "recipe.json").write_text(json.dumps(public_recipe(recipe), indent=2))
    setup = prepare(recipe, show_progress=show_progress)
    student = build(registry.student("query_transformer", recipe.student.kind),
                    recipe.student.options, "student")  # fmt: skip
    if (
        student.loader == "hf-llm"
        and setup.options.student_prompt == "teacher"
        and not (isinstance(getattr(setup.teacher, "prompts", None), dict))
    ):
        raise ConfigError(
            f"teacher kind {recipe.teacher.kind!r} has no prompt templates the student's "
            "hf-llm loader can reproduce, so a student trained on its prompts would read "
            'others at inference; set [query_transformer] student_prompt = "bare"'
        )
    with seeded_init(recipe.train.seed):  # new layers start the same every run
        model = student.build()
    logit = sorted({s.name for s in recipe.losses} & LOGIT_LOSSES)
    if logit:
        teacher_name = setup.options.teacher_tokenizer or getattr(setup.teacher, "model", None)
        check_shared_tokenizer(teacher_name, recipe.student.options.get("model", "?"),
                               model.tokenizer, logit,
                               option="[query_transformer] teacher_tokenizer")  # fmt: skip
    if setup.options.task == "expand":
        check_separator(model.tokenizer)
    k = setup.options.labels.top_logprobs
    convert = logprob_converter(model.tokenizer, k) if k else None
    keys = label(setup, setup.train + setup.eval, convert, show_progress=show_progress)
    encode = encoder(setup, model)
    rows: list[TrainRow] = []
    malformed = unaligned = 0
    for example, made in zip(setup.train, setup.store.get(keys[: len(setup.train)])):
        text = target_text(setup, example, made.text)
        if text is None:
            malformed += 1
            continue
        prompt = encode(example)
        if logit:
            row = token_row(prompt, made, model.eos_id,
                            max_answer=setup.options.labels.max_new_tokens)  # fmt: skip
            if row is None:
                unaligned += 1
                continue
            rows.append(row)
        else:
            rows.append(TrainRow(tuple(prompt), tuple(model.target_ids(text))))
    report = {
        "task": setup.options.task,
        "train_examples": len(setup.train),
        "eval_examples": len(setup.eval),
        "data": setup.data_stats,
        "dropped": {"malformed_teacher_outputs": malformed, "unaligned_logprobs": unaligned},
        "train_rows": len(rows),
    }
    (output / "labelling.json").write_text(json.dumps(report, indent=2))
    if stop_after_labelling:
        return output
    if len(rows) < 2:
        raise ConfigError(
            f"only {len(rows)} training queries have a usable teacher output (see "
            f"{output / 'labelling.json'}); use more data (train.max_texts) or check the teacher"
        )
    baseline = output / "baseline"
    if recipe.evaluate.baseline and not baseline.exists():
        save(model, student, baseline, setup, recipe=None, bare=False)
    specs = [{"name": s.name, "weight": s.weight, **s.options} for s in recipe.losses]
    loss = build_losses(specs, registry, stage="query_transformer", context={})
    result = train(
        model,
        loss,
        [(r.prompt_ids, r.target_ids) for r in rows],
        lambda idx: teacher_batch([rows[i] for i in idx]),
        recipe.train,
        output=output,
        fingerprint=recipe_fingerprint(recipe),
        also_resumes=recipe_fingerprints(recipe)[1:],
        device=setup.device,
        show_progress=show_progress,
    )
    metrics = {
        "train/steps": result.steps,
        "train/seconds": round(result.seconds, 1),
        "train/rows": len(rows),
        "train/final_loss": result.history[-1]["loss"] if result.history else None,
    }
    return save(model, student, output / "student", setup, recipe=recipe, metrics=metrics,
                bare=setup.options.student_prompt == "bare")  # fmt: skip


def check_separator(tokenizer: Any) -> None:
    """An expansion is learned as ``q1 ||| q2``: the student's tokenizer must write the
    separator back, or its queries could never be told apart."""
    from ragdistill.query_parsing import parse_queries

    ids = tokenizer("alpha ||| beta", add_special_tokens=False)["input_ids"]
    back = tokenizer.decode(ids, skip_special_tokens=True)
    if parse_queries(back, 2) != ["alpha", "beta"]:
        raise ConfigError(
            f"the student's tokenizer turns 'alpha ||| beta' into {back!r}, so it cannot "
            "write the ||| between expanded queries; add '|||' as a token to it (and resize "
            'the embeddings) or use task = "rewrite"/"hyde" with this student'
        )


def load_options(setup: QuerySetup, student: Any, *, bare: bool) -> dict[str, Any]:
    """What the artifact's loader needs to transform as the student was trained."""
    options = setup.options
    common = {"task": options.task, "num_queries": options.num_queries,
              "max_new_tokens": options.labels.max_new_tokens}  # fmt: skip
    if student.loader == "hf-seq2seq":
        return {**student.load_options(), **common, "expansion": "separator",
                "prefix": SEQ2SEQ_PREFIX[options.task]}  # fmt: skip
    prompts = student_prompts(setup, bare=bare)
    return {**student.load_options(), **common,
            **{f"{task}_prompt": text for task, text in prompts.items()}}  # fmt: skip


def save(model: Any, student: Any, folder: Path, setup: QuerySetup, *, recipe: Recipe | None,
         bare: bool, metrics: dict[str, Any] | None = None) -> Path:  # fmt: skip
    extra: dict[str, Any] = {}
    if recipe is not None:
        extra = {
            "teacher": setup.teacher.describe(),  # type: ignore[attr-defined]
            "recipe": public_recipe(recipe),
            "recipe_fingerprint": recipe_fingerprint(recipe),
            "data_fingerprint": setup.dataset.fingerprint(),
            "metrics": metrics or {},
        }

    def manifest(staging: Path) -> None:
        write_manifest(staging, stage="query_transformer", loader=student.loader,
                       load_options=load_options(setup, student, bare=bare),
                       student=student.describe(), **extra)  # fmt: skip

    save_staged(model, folder, manifest, what=f"the query-transformer student ({folder.name})")
    return folder
