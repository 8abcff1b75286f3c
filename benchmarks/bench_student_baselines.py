"""How good is each candidate student before any distillation? (tau2 banking, nDCG@10)

Encodes the tau2 passages and the 97 queries with each offline student candidate,
ranks documents by their best passage (brute force, no index) and prints nDCG@10; the
teacher's figure comes from the embedder benchmark's A/B. It tells which starting point
a 3-layer or 6-layer student has, and so what distillation must recover.

    python benchmarks/bench_student_baselines.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from markdown_section import replace_section

CANDIDATES = [
    ("all-MiniLM-L6-v2", None, "6 layers, trained"),
    (
        "all-MiniLM-L6-v2",
        [0, 2, 4],
        "layers 0, 2, 4 of the 6 (the quickstart student before distillation)",
    ),
    ("paraphrase-MiniLM-L3-v2", None, "3 layers, trained (rebuilt from the offline ONNX graph)"),
]


def ndcg10(model, dataset) -> float:
    from ragdistill.evaluation.retrieval import ndcg_at_k

    passages = dataset.passages()
    qids = dataset.evaluable_query_ids()
    docs = model.encode([p.text for p in passages], batch_size=32, normalize_embeddings=True)
    queries = model.encode(
        [dataset.queries[q] for q in qids], batch_size=32, normalize_embeddings=True
    )
    scores = queries @ docs.T
    values = []
    for row, qid in zip(scores, qids):
        ranked: list[str] = []
        for j in np.argsort(-row):
            if passages[j].doc_id not in ranked:
                ranked.append(passages[j].doc_id)
            if len(ranked) == 10:
                break
        values.append(ndcg_at_k(ranked, dataset.qrels[qid], 10))
    return float(np.mean(values))


def main() -> None:
    from sentence_transformers import SentenceTransformer

    from ragdistill.distill.embedder import build
    from ragdistill.models import resolve_model
    from ragdistill.registry import default_registry
    from ragdistill.students.sentence_transformer import prune_layers

    dataset = build(default_registry().dataset("tau2-banking"), {}, "data").load()
    rows = []
    for name, keep, what in CANDIDATES:
        model = SentenceTransformer(resolve_model(name), device="cpu")
        model.max_seq_length = 256
        if keep is not None:
            prune_layers(model, keep)
        start = time.perf_counter()
        value = ndcg10(model, dataset)
        rows.append(f"| {name} | {what} | {value:.4f} | {time.perf_counter() - start:.0f} |")
        print(rows[-1], flush=True)
    table = "\n".join(["| student | what | nDCG@10 | seconds |", "|---|---|---:|---:|", *rows])
    body = (
        "Command: `python benchmarks/bench_student_baselines.py`. tau2 banking, 97 queries, "
        "1,492 passages, max 256 tokens, no distillation; the teacher (all-mpnet-base-v2) scores "
        "0.3352 in the embedder benchmark's A/B.\n\n" + table
    )
    replace_section(
        Path(__file__).resolve().parents[1] / "BENCHMARKS.md",
        "baselines",
        "Student starting points",
        body,
    )


if __name__ == "__main__":
    main()
