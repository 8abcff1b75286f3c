"""A tiny query-transformer recipe over the tiny SQuAD file (tiny models, rule teacher)."""

from __future__ import annotations

from pathlib import Path


def tiny_query_recipe(
    workdir: Path,
    *,
    student: Path,
    retriever: Path,
    squad: Path,
    task: str = "rewrite",
    teacher_kind: str = "rule-llm",
    teacher_model: str = "rule-teacher",
    student_kind: str = "causal-lm",
    losses: str = '[[losses]]\nname = "sequence-kd"\n',
    stage_extra: str = "",
    evaluate: str = "",
) -> Path:
    recipe = workdir / "query.toml"
    recipe.write_text(f"""
stage = "query_transformer"
name = "tiny-query"
output = "{workdir / "out"}"
cache_dir = "{workdir / "cache"}"

[teacher]
kind = "{teacher_kind}"
model = "{teacher_model}"
batch_size = 4

[student]
kind = "{student_kind}"
model = "{student}"

[data]
dataset = "squad"
path = "{squad}"
eval_queries = 12
eval_articles = 2

{losses}

[train]
epochs = 2
batch_size = 4
learning_rate = 1e-3
max_texts = 16
checkpoint_every = 2
seed = 0

[query_transformer]
task = "{task}"
{stage_extra}

[query_transformer.labels]
max_new_tokens = 12

[query_transformer.ab.embedder]
kind = "sentence-transformers"
model = "{retriever}"

[query_transformer.ab]
latency_queries = 2

[evaluate]
max_queries = 8
bootstrap = 100
{evaluate}
""")
    return recipe
