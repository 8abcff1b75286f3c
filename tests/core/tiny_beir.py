"""A small BEIR-format dataset written to disk for end-to-end tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = [
    *[
        "bank",
        "account",
        "card",
        "loan",
        "fee",
        "transfer",
        "credit",
        "debit",
        "interest",
        "rate",
        "branch",
        "mobile",
        "app",
    ],
    *[
        "password",
        "fraud",
        "dispute",
        "refund",
        "limit",
        "overdraft",
        "savings",
        "mortgage",
        "cheque",
        "wire",
        "statement",
    ],
]


def write_tiny_beir(root: Path, *, docs: int = 60, queries: int = 16, judged: int = 8) -> Path:
    rng = random.Random(0)
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with open(root / "corpus.jsonl", "w") as fh:
        for i in range(docs):
            text = " ".join(rng.choice(WORDS) for _ in range(25))
            fh.write(
                json.dumps(
                    {"_id": f"d{i}", "title": f"{WORDS[i % len(WORDS)]} rules", "text": text}
                )
                + "\n"
            )
    with open(root / "queries.jsonl", "w") as fh:
        for i in range(queries):
            fh.write(
                json.dumps({"_id": f"q{i}", "text": " ".join(rng.choice(WORDS) for _ in range(5))})
                + "\n"
            )
    with open(root / "qrels" / "test.tsv", "w") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for i in range(judged):
            fh.write(f"q{i}\td{i * 3}\t1\n")
    return root


def tiny_recipe(
    tmp: Path,
    teacher: str,
    student: str,
    data: Path,
    *,
    teacher_kind: str = "sentence-transformers",
    extra: str = "",
) -> Path:
    path = tmp / "recipe.toml"
    path.write_text(
        f"""
stage = "embedder"
name = "tiny"
output = "{tmp / "out"}"
cache_dir = "{tmp / "cache"}"

[teacher]
kind = "{teacher_kind}"
model = "{teacher}"
batch_size = 8

[student]
kind = "sentence-transformers"
model = "{student}"
keep_layers = [0]
projection_dim = 16

[data]
dataset = "beir"
path = "{data}"

[[losses]]
name = "mse"

[[losses]]
name = "ntxent"
weight = 0.5

[[losses]]
name = "similarity-kl"
weight = 0.5

[train]
epochs = 3
batch_size = 8
learning_rate = 1e-3
group_by_length = true
eval_every = 6
checkpoint_every = 3

[runtime]
device = "cpu"
threads = 1

[evaluate]
k = 20
bootstrap = 200
{extra}
"""
    )
    return path
