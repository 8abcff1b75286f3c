"""What query-transformer training and its A/B share: the teacher, its store, the examples."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, replace
from typing import Any

from ragdistill.config import build
from ragdistill.contracts import GenerationRequest, PromptedQueryTransformer, request
from ragdistill.data.splits import split_questions
from ragdistill.datasets import RetrievalDataset
from ragdistill.errors import ConfigError
from ragdistill.generation.asking import ask
from ragdistill.generation.store import GenerationStore
from ragdistill.recipes import Recipe
from ragdistill.stages.query_transformer.data import (
    QueryExample,
    conversation_candidates,
    follow_up,
    follow_up_instruction,
    plain_examples,
    rule_follow_up,
    shared_reference,
)
from ragdistill.stages.query_transformer.options import QueryTransformerOptions
from ragdistill.stages.query_transformer.synthetic import synthesize
from ragdistill.teacher_cache import fingerprint

#: Tokens the teacher may spend on a follow-up question.
FOLLOW_UP_TOKENS = 48


@dataclass
class QuerySetup:
    dataset: RetrievalDataset
    options: QueryTransformerOptions
    train: list[QueryExample]
    eval: list[QueryExample]
    teacher: PromptedQueryTransformer
    store: GenerationStore
    device: str
    data_stats: dict[str, int]

    @property
    def num_queries(self) -> int:
        return self.options.num_queries if self.options.task == "expand" else 1

    def teacher_request(self, example: QueryExample, *, logprobs: bool = True) -> GenerationRequest:
        """What the teacher is asked for ``example``: its own prompt, the stage's budget."""
        labels = self.options.labels
        base = self.teacher.generation_request(example.request(self.num_queries))
        k = labels.top_logprobs if logprobs else 0
        return replace(base, max_new_tokens=labels.max_new_tokens, top_logprobs=k)


def build_teacher(recipe: Recipe, options: QueryTransformerOptions) -> PromptedQueryTransformer:
    """The recipe's teacher, told the stage's task; refused unless it prompts a generator."""
    from ragdistill.registry import default_registry

    cls = default_registry().teacher("query_transformer", recipe.teacher.kind)
    params = inspect.signature(cls).parameters
    any_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    takes_task = "task" in params or any_keyword
    extra: dict[str, Any] = {}
    if takes_task:
        extra["task"] = options.task
    if "num_queries" in params or any_keyword:
        extra["num_queries"] = options.num_queries
    teacher = build(cls, {**recipe.teacher.options, **extra}, "teacher")
    if not isinstance(teacher, PromptedQueryTransformer) or not takes_task:
        raise ConfigError(
            f"teacher kind {recipe.teacher.kind!r} cannot be distilled: distillation stores "
            "the teacher's own generations, so it needs a query transformer that prompts a "
            "generator and takes a task (generator, generation_request(), parse(), task=), "
            'such as kind = "hf-llm"'
        )
    return teacher


def prepare(recipe: Recipe, *, show_progress: bool = True) -> QuerySetup:
    """Load the data, split it, have the teacher write the follow-ups of conversations."""
    from ragdistill.registry import default_registry

    registry = default_registry()
    options = QueryTransformerOptions.model_validate(recipe.stage_options)
    runtime = build(registry.runtime(recipe.runtime.backend), recipe.runtime.options, "runtime")
    teacher = build_teacher(recipe, options)
    described = teacher.describe()  # type: ignore[attr-defined]
    store = GenerationStore.open(fingerprint(described), k=options.labels.top_logprobs,
                                 root=recipe.cache_dir, description=described)  # fmt: skip
    dataset = build(registry.dataset(recipe.data.dataset), recipe.data.options, "data").load()
    max_eval, max_train = recipe.evaluate.max_queries, recipe.train.max_texts
    stats: dict[str, int] = {}
    factor = options.conversation.oversample
    train_ids: list[str] = []
    eval_ids: list[str] = []
    # Follow-ups and questions need no log-probs: kept where every recipe of this teacher
    # finds them.
    plain = store if store.k == 0 else GenerationStore.open(
        fingerprint(described), root=recipe.cache_dir, description=described
    )  # fmt: skip
    if options.synthetic.enabled:
        dataset, train_ids, eval_ids, stats = synthesize(
            dataset, teacher.generator, plain, options.synthetic, show_progress=show_progress
        )
    if options.task == "rewrite":
        written: list[QueryExample] = []
        follow: dict[str, int] = {}
        held: set[str] = set()
        # Follow-ups are dropped when they would test nothing; draw wider until enough
        # evaluated conversations remain (or every judged question is drawn).
        for _ in range(6):
            if not options.synthetic.enabled:
                train_ids, eval_ids = split_questions(
                    dataset, max_eval=_more(max_eval, factor),
                    max_train=_more(max_train, options.conversation.oversample),
                    seed=recipe.train.seed,
                )  # fmt: skip
            candidates = conversation_candidates(dataset, [*eval_ids, *train_ids],
                                                 options.conversation)  # fmt: skip
            written, follow = write_follow_ups(teacher, plain, candidates, options,
                                               show_progress=show_progress)  # fmt: skip
            held = set(eval_ids)
            found = sum(e.id in held for e in written)
            drawn_all = len(eval_ids) >= len(dataset.evaluable_query_ids())
            if max_eval is None or found >= max_eval or drawn_all or options.synthetic.enabled:
                break
            factor *= 1.5
        stats = {**stats, **follow}
        evals = [e for e in written if e.id in held][:max_eval]
        train = [e for e in written if e.id not in held][:max_train]
    else:
        if not options.synthetic.enabled:
            train_ids, eval_ids = split_questions(
                dataset, max_eval=max_eval, max_train=max_train, seed=recipe.train.seed
            )
        train = plain_examples(dataset, train_ids, need_targets=False)[:max_train]
        evals = plain_examples(dataset, eval_ids)[:max_eval]
    if not evals:
        raise ConfigError(
            f"dataset {dataset.name!r} gave no query to evaluate: it needs judged queries "
            "(qrels), or for conversations questions with earlier ones about the same passage"
        )
    return QuerySetup(dataset, options, train, evals, teacher, store,
                      runtime.training_device(), stats)  # fmt: skip


def write_follow_ups(
    teacher: PromptedQueryTransformer,
    store: GenerationStore,
    candidates: list[QueryExample],
    options: QueryTransformerOptions,
    *,
    show_progress: bool,
) -> tuple[list[QueryExample], dict[str, int]]:
    """Each candidate with the teacher's follow-up as its query; the drops, counted."""
    stats = {"candidates": len(candidates), "nothing_to_refer_to": 0}
    chosen, requests = [], []
    for example in candidates:
        reference = shared_reference(example.original, _said(example))
        if reference is None:
            stats["nothing_to_refer_to"] += 1
            continue
        chosen.append(example)
        requests.append(request(follow_up_instruction(example, reference),
                                max_new_tokens=FOLLOW_UP_TOKENS))  # fmt: skip
    if options.conversation.follow_ups == "rule":
        replies = [rule_follow_up(e.original, shared_reference(e.original, _said(e)) or "")
                   for e in chosen]  # fmt: skip
    else:
        keys, _ = ask(teacher.generator, requests, store, show_progress=show_progress,
                      desc="teacher follow-ups")  # fmt: skip
        replies = [made.text for made in store.get(keys)]
    out = []
    for example, reply in zip(chosen, replies):
        text, verdict = follow_up(reply, example.original, _said(example))
        if text is None and verdict == "unchanged" and options.conversation.keep_unchanged:
            text = example.original
        stats[verdict] = stats.get(verdict, 0) + 1
        if text is not None:
            out.append(replace(example, query=text))
    return out, stats


def _said(example: QueryExample) -> str:
    return " ".join(m.content for m in example.history)


def _more(limit: int | None, factor: float) -> int | None:
    return None if limit is None else math.ceil(limit * factor)
