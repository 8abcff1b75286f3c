"""Run every arm on the same prompts and build the generator A/B result.

Each arm answers greedily under the same token budget. Answers are stored per arm
(the teacher's in its labelling store, so a distillation's A/B asks the teacher
nothing new; a student's keyed by its artifact's files), so an interrupted A/B resumes
where it stopped. Speed is timed afterwards on the same few prompts for every arm, one
request at a time, in this one process.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ragdistill.contracts import Generator, request
from ragdistill.generation.asking import ask
from ragdistill.generation.store import GenerationStore
from ragdistill.stages.generator.ab_result import GenerationABResult, build_result
from ragdistill.stages.generator.examples import GenerationExample
from ragdistill.stages.generator.speed import measure_speed

Prompt = tuple[GenerationExample, list[dict[str, str]], int]


def answer_all(
    arm: Generator,
    prompts: list[Prompt],
    store: GenerationStore,
    *,
    max_new_tokens: int,
    top_logprobs: int = 0,
    show_progress: bool,
    name: str,
) -> list[str]:
    return _answers(arm, prompts, store, max_new_tokens=max_new_tokens,
                    top_logprobs=top_logprobs, show_progress=show_progress, name=name)[0]  # fmt: skip


def _answers(
    arm: Generator,
    prompts: list[Prompt],
    store: GenerationStore,
    *,
    max_new_tokens: int,
    top_logprobs: int,
    show_progress: bool,
    name: str,
) -> tuple[list[str], bool]:
    """The answers, and whether every one was read from ``store`` (none generated)."""
    requests = [request(m, max_new_tokens=max_new_tokens, top_logprobs=top_logprobs)
                for _, m, _ in prompts]  # fmt: skip
    keys, fill = ask(arm, requests, store, show_progress=show_progress, desc=f"{name} answers")
    return [g.text.strip() for g in store.get(keys)], bool(keys) and fill.computed == 0


def run_generation_ab(
    prompts: list[Prompt],
    arms: Mapping[str, Generator],
    *,
    stores: Mapping[str, GenerationStore],
    abstain: str,
    dataset: Mapping[str, Any],
    max_new_tokens: int,
    teacher_top_logprobs: int = 0,
    latency_queries: int = 20,
    n_bootstrap: int = 1000,
    seed: int = 0,
    show_progress: bool = True,
) -> GenerationABResult:
    """Answers of every arm on ``prompts`` (example, messages, passages dropped)."""
    answers: dict[str, list[str]] = {}
    cached: dict[str, bool] = {}
    for name, arm in arms.items():
        k = teacher_top_logprobs if name == "teacher" else 0
        answers[name], cached[name] = _answers(
            arm, prompts, stores[name], max_new_tokens=max_new_tokens, top_logprobs=k,
            show_progress=show_progress, name=name,
        )  # fmt: skip
    timed = [request(m, max_new_tokens=max_new_tokens) for _, m, _ in prompts[:latency_queries]]
    speed = {}
    for name, arm in arms.items():
        size = getattr(arm, "model", None)
        speed[name] = measure_speed(arm, timed, max_new_tokens=max_new_tokens,
                                    size_path=size if isinstance(size, str) and Path(size).is_dir() else None)  # fmt: skip
    return build_result(
        [e for e, _, _ in prompts],
        answers,
        abstain=abstain,
        speed=speed,
        describe={n: a.describe() for n, a in arms.items()},
        dataset=dataset,
        dropped_contexts=[d for _, _, d in prompts],
        bootstrap=n_bootstrap,
        seed=seed,
        cached=cached,
    )
