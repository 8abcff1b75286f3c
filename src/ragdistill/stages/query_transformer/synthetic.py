"""Questions the teacher writes about passages: data for a corpus without questions.

For each sampled passage the teacher writes a few questions, in order, the way one user
asks about one document (``[query_transformer.synthetic]``). Each question's source is
its passage's document, so consecutive questions about a passage become a conversation
(:func:`~ragdistill.stages.query_transformer.data.conversation_candidates`) and the
document is what retrieval must find. Questions of a seeded share of the documents'
groups (titles) are evaluated, never trained on.
"""

from __future__ import annotations

import random
from dataclasses import replace

from ragdistill.contracts import Generator, request
from ragdistill.data.splits import group_of
from ragdistill.datasets import RetrievalDataset
from ragdistill.generation.asking import ask
from ragdistill.generation.store import GenerationStore
from ragdistill.query_parsing import parse_queries
from ragdistill.stages.query_transformer.options import SyntheticSpec

#: What the teacher is asked for one passage.
QUESTIONS_PROMPT = (
    "Passage:\n{passage}\n\nWrite {n} different questions that the passage above answers, "
    "each about a different detail, as a user would ask them one after another. Each "
    "question must make sense without the passage. Reply with one question per line and "
    "nothing else."
)


def synthesize(
    dataset: RetrievalDataset,
    generator: Generator,
    store: GenerationStore,
    spec: SyntheticSpec,
    *,
    show_progress: bool,
) -> tuple[RetrievalDataset, list[str], list[str], dict[str, int]]:
    """``(dataset with the questions, train ids, eval ids, counts)``."""
    passages = dataset.passages()
    rng = random.Random(spec.seed)
    chosen = rng.sample(passages, min(spec.passages, len(passages)))
    requests = [
        request(
            QUESTIONS_PROMPT.format(passage=p.text[: spec.max_chars], n=spec.questions),
            max_new_tokens=32 * spec.questions,
        )
        for p in chosen
    ]
    keys, _ = ask(generator, requests, store, show_progress=show_progress,
                  desc="teacher questions")  # fmt: skip
    queries, sources = dict(dataset.queries), dict(dataset.sources)
    made: list[tuple[str, str]] = []  # (question id, group)
    unusable = 0
    for passage, label in zip(chosen, store.get(keys)):
        questions = [q for q in parse_queries(label.text, spec.questions) if q.endswith("?")]
        unusable += spec.questions - len(questions)
        for i, question in enumerate(questions):
            qid = f"synthetic-{passage.id}-{i}"
            queries[qid], sources[qid] = question, [passage.doc_id]
            made.append((qid, group_of(dataset, passage.doc_id)))
    groups = sorted({g for _, g in made})
    random.Random(spec.seed).shuffle(groups)
    held = set(groups[: max(1, round(len(groups) * spec.evaluate))])
    train = [q for q, g in made if g not in held]
    evals = [q for q, g in made if g in held]
    stats = {"passages": len(chosen), "questions": len(made), "unusable": unusable}
    return replace(dataset, queries=queries, sources=sources), train, evals, stats
