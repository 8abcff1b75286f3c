"""A tiny SQuAD-format file and generator recipe for end-to-end tests (tiny models)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from ragdistill.testing.tiny import _WORDS

TOPICS = ["river", "mountain", "city", "island", "school", "music", "ocean", "farm"]


def write_tiny_squad(
    path: Path,
    *,
    articles: int = 8,
    paragraphs: int = 3,
    questions: int = 2,
    names: bool = False,
) -> Path:
    """``articles`` articles of ``paragraphs`` paragraphs with ``questions`` questions each;
    every answer is a word of its paragraph. ``names``: topics are capitalised, as the
    names a conversation's follow-up refers back to are."""
    rng = random.Random(0)
    data = []
    for a in range(articles):
        topic = TOPICS[a % len(TOPICS)]
        topic = topic.capitalize() if names else topic
        paras = []
        for p in range(paragraphs):
            words = [topic, *rng.sample(_WORDS, 30)]
            context = " ".join(words) + "."
            qas = []
            for q in range(questions):
                answer = words[1 + q * 5]
                qas.append({
                    "id": f"q{a}-{p}-{q}",
                    "question": f"what {topic} {words[2 + q * 5]} {words[3 + q * 5]}?",
                    "answers": [{"text": answer, "answer_start": context.index(answer)}],
                })  # fmt: skip
            paras.append({"context": context, "qas": qas})
        data.append({"title": f"{topic} {a}", "paragraphs": paras})
    path.write_text(json.dumps({"version": "1.1", "data": data}))
    return path


def tiny_generator_recipe(
    workdir: Path,
    *,
    teacher: Path,
    student: Path,
    retriever: Path,
    squad: Path,
    teacher_kind: str = "hf-causal-lm",
    losses: str = '[[losses]]\nname = "sequence-kd"\n',
    generator: str = "",
    student_extra: str = "",
    evaluate: str = "",
) -> Path:
    recipe = workdir / "generator.toml"
    recipe.write_text(f"""
stage = "generator"
name = "tiny-generator"
output = "{workdir / "out"}"
cache_dir = "{workdir / "cache"}"

[teacher]
kind = "{teacher_kind}"
model = "{teacher}"
batch_size = 4

[student]
kind = "causal-lm"
model = "{student}"
{student_extra}

[data]
dataset = "squad"
path = "{squad}"
eval_queries = 6
eval_articles = 2

{losses}

[train]
epochs = 2
batch_size = 4
learning_rate = 1e-3
max_texts = 16
checkpoint_every = 2
seed = 0

[generator.contexts]
k = 2
max_prompt_tokens = 200
unanswerable = 0.2

[generator.contexts.embedder]
kind = "sentence-transformers"
model = "{retriever}"

[generator.labels]
max_new_tokens = 6
{generator}

[evaluate]
bootstrap = 100
latency_queries = 2
{evaluate}
""")
    return recipe
