"""What generator training and its A/B share: the data, fixed prompts' contexts, the teacher."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

from ragdistill.config import build
from ragdistill.contracts import Generator, request
from ragdistill.data.splits import group_of, split_questions
from ragdistill.datasets import RetrievalDataset
from ragdistill.generation.asking import ask
from ragdistill.generation.store import GenerationStore
from ragdistill.recipes import Recipe
from ragdistill.stages.generator.data import (
    assemble,
    check_text,
    cut,
    retrieve_contexts,
)
from ragdistill.stages.generator.examples import GenerationExample
from ragdistill.stages.generator.options import GeneratorOptions, SyntheticSpec
from ragdistill.teacher_cache import fingerprint

#: What the teacher is asked to write a synthetic question from one passage.
QUESTION_PROMPT = (
    "Write one question that the passage below answers. The question must make sense "
    "without seeing the passage, and its answer must be a short phrase found in it. "
    "Reply with the question only.\n\nPassage:\n{passage}"
)


@dataclass
class GeneratorSetup:
    dataset: RetrievalDataset
    options: GeneratorOptions
    train: list[GenerationExample]
    eval: list[GenerationExample]
    teacher: Generator
    store: GenerationStore
    device: str
    synthetic: dict[str, int]


def prepare(recipe: Recipe, *, show_progress: bool = True) -> GeneratorSetup:
    """Load the data, write synthetic questions if asked, fix every prompt's contexts."""
    from ragdistill.registry import default_registry

    registry = default_registry()
    options = GeneratorOptions.model_validate(recipe.stage_options)
    output = Path(recipe.output)
    output.mkdir(parents=True, exist_ok=True)
    runtime = build(registry.runtime(recipe.runtime.backend), recipe.runtime.options, "runtime")
    teacher = build(registry.teacher("generator", recipe.teacher.kind), recipe.teacher.options,
                    "teacher")  # fmt: skip
    store = GenerationStore.open(
        fingerprint(teacher.describe()),
        k=options.labels.top_logprobs,
        root=recipe.cache_dir,
        description=teacher.describe(),
    )
    dataset = build(registry.dataset(recipe.data.dataset), recipe.data.options, "data").load()
    seed = recipe.train.seed
    train_ids, eval_ids = split_questions(
        dataset, max_eval=recipe.evaluate.max_queries, max_train=recipe.train.max_texts, seed=seed
    )
    synthetic = {"questions": 0, "empty": 0}
    if options.synthetic.enabled or not dataset.queries:
        own_eval = not (options.synthetic.evaluate or not eval_ids)
        if not own_eval:
            eval_ids = []
        # Questions need no log-probs: kept where every recipe with this teacher finds them.
        questions = store if store.k == 0 else GenerationStore.open(
            fingerprint(teacher.describe()), root=recipe.cache_dir,
            description=teacher.describe(),
        )  # fmt: skip
        dataset, added, synthetic = synthesize(
            dataset, eval_ids, teacher, questions, options.synthetic, show_progress=show_progress
        )
        if not own_eval:
            added, eval_ids = hold_out(dataset, added, recipe.evaluate.max_queries or 50, seed)
        train_ids = train_ids + added
    spec = options.contexts
    embedder = build(registry.teacher("embedder", spec.embedder.kind), spec.embedder.options,
                     "generator.contexts.embedder")  # fmt: skip
    retrieved = retrieve_contexts(
        dataset,
        embedder,
        [*train_ids, *eval_ids],
        depth=spec.k + 2,
        index_dir=output / "index",
        saved=output / "contexts.json",
        show_progress=show_progress,
    )
    train = assemble(dataset, train_ids, retrieved, spec, salt="train")
    evals = assemble(dataset, eval_ids, retrieved, spec, salt="eval")
    for example in [*train, *evals]:
        check_text(example)
    return GeneratorSetup(dataset, options, train, evals, teacher, store,
                          runtime.training_device(), synthetic)  # fmt: skip


def synthesize(
    dataset: RetrievalDataset,
    eval_ids: list[str],
    teacher: Generator,
    store: GenerationStore,
    spec: SyntheticSpec,
    *,
    show_progress: bool,
) -> tuple[RetrievalDataset, list[str], dict[str, int]]:
    """The teacher writes one question per sampled passage (cached like every answer).

    Passages come from groups no evaluated question uses; each question's source is its
    passage's document, so the prompt built for it holds the passage the answer is in.
    """
    held = {group_of(dataset, d) for q in eval_ids for d in dataset.source_documents(q)}
    passages = [p for p in dataset.passages() if group_of(dataset, p.doc_id) not in held]
    rng = random.Random(spec.seed)
    chosen = rng.sample(passages, min(spec.passages, len(passages)))
    requests = [
        request(QUESTION_PROMPT.format(passage=cut(p.text, 600)), max_new_tokens=40) for p in chosen
    ]
    keys, _ = ask(teacher, requests, store, show_progress=show_progress,
                  desc="teacher questions")  # fmt: skip
    queries, sources, added = dict(dataset.queries), dict(dataset.sources), []
    empty = 0
    for passage, made in zip(chosen, store.get(keys)):
        question = made.text.strip().split("\n")[0].strip()
        if len(question) < 8 or not question.endswith("?"):
            empty += 1
            continue
        qid = f"synthetic-{passage.id}"
        queries[qid], sources[qid] = question, [passage.doc_id]
        added.append(qid)
    stats = {"questions": len(added), "empty": empty}
    return replace(dataset, queries=queries, sources=sources), added, stats


def hold_out(
    dataset: RetrievalDataset, ids: list[str], count: int, seed: int
) -> tuple[list[str], list[str]]:
    """``(train, eval)``: whole groups held out, in a seeded order, until ``count`` are."""
    groups: dict[str, list[str]] = {}
    for qid in ids:
        groups.setdefault(group_of(dataset, dataset.source_documents(qid)[0]), []).append(qid)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    held: list[str] = []
    for name in order:
        if len(held) >= count:
            break
        if len(held) + len(groups[name]) <= len(ids) // 2 + 1:  # at least half stay to train
            held.extend(groups[name])
    chosen = set(held)
    return [q for q in ids if q not in chosen], held
