"""Reranker distillation benchmark: teacher vs distilled student vs first stage, one run.

For each dataset and student it runs the reranker quickstart recipe (teacher: the
bi-encoder all-mpnet-base-v2; first stage: all-MiniLM-L6-v2 over Chroma) with that
dataset and student, then the reranker A/B: every arm reorders the same first-stage
candidates of the held-out judged queries, side by side in one process (nDCG@10 and
MRR@10 with paired-bootstrap CIs, agreement with the teacher, scoring latency per query
at 20, 50 and 100 candidates). It prints a table and writes it into BENCHMARKS.md.

    python benchmarks/bench_reranker.py                          # scifact + squad, CE student
    python benchmarks/bench_reranker.py --students cross-encoder,colbert

The labeled sets are read from ../shared/data (on the project's machines only) and
skipped with a message where absent. Sizes are kept small for a shared 2-core CPU:
see the flags. Re-running resumes: candidates, teacher scores and checkpoints are kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from markdown_section import replace_section  # noqa: E402

DATASETS = {
    "scifact": (
        {"dataset": "beir", "path": str(SHARED / "scifact"), "unjudged_queries": True,
         "max_corpus": 600},
        "BEIR SciFact test (corpus: the 339 judged abstracts + the first others, 600); training "
        "queries: the 809 unjudged train claims and the document titles",
    ),
    "squad": (
        {"dataset": "squad", "path": str(SHARED / "squad-v1.1-dev" / "dev-v1.1.json"),
         "eval_queries": 300, "max_corpus": 1000},
        "SQuAD v1.1 dev (300 sampled questions judged, over 1,000 of the 2,067 paragraphs, "
        "theirs first); training queries: the other questions and the article titles",
    ),
}  # fmt: skip
NEEDS = {"scifact": SHARED / "scifact", "squad": SHARED / "squad-v1.1-dev"}
# student kind -> ([student] table, [train] overrides). The cross-encoder trains all but
# its embeddings and lowest layer; ColBERT keeps all 6 layers (only the query is encoded
# at search time) and fine-tunes its top 2, starting from a zero-shot ranking already
# near the first stage's.
STUDENTS = {
    "cross-encoder": (
        {"kind": "cross-encoder", "model": "all-MiniLM-L6-v2", "keep_layers": [0, 2, 4],
         "max_length": 256, "freeze_layers": 1},
        {"epochs": 2, "batch_size": 8, "learning_rate": 1e-4},
    ),
    "colbert": (
        {"kind": "colbert", "model": "all-MiniLM-L6-v2", "dim": None, "max_doc_length": 256,
         "freeze_layers": 4},
        {"epochs": 1, "batch_size": 8, "learning_rate": 3e-5},
    ),
    "bi-encoder": (
        {"kind": "bi-encoder", "model": "all-MiniLM-L6-v2", "freeze_layers": 4},
        {"epochs": 1, "batch_size": 8, "learning_rate": 3e-5},
    ),
}  # fmt: skip


def recipe_for(dataset: str, student: str, out: Path, args: argparse.Namespace) -> dict:
    """The quickstart recipe with this dataset and student, sized for a shared 2-core CPU."""
    from ragdistill.recipes import tomllib

    text = resources.files("ragdistill.recipes").joinpath("reranker-quickstart.toml").read_text()
    data = tomllib.loads(text)
    data["name"] = f"bench-{dataset}-{student}"
    data["output"] = str(out)
    data["cache_dir"] = str(args.out / "cache")
    data["data"] = dict(DATASETS[dataset][0])
    data["student"] = dict(STUDENTS[student][0])
    data["train"].update(STUDENTS[student][1])
    # The teacher reads 256 tokens (all-mpnet-base-v2 was trained on 128), as the student.
    data["teacher"]["max_seq_length"] = 256
    data["candidates"].update(k=args.k, window=[3, args.k], negatives=args.negatives,
                              in_batch_negatives=args.in_batch)  # fmt: skip
    data["train"].update(max_texts=args.train_queries, eval_every=0)
    data["evaluate"].update(max_queries=args.eval_queries, latency_queries=args.latency_queries,
                            baseline=args.baseline)  # fmt: skip
    return data


def run(dataset: str, student: str, args: argparse.Namespace) -> dict:
    from ragdistill.distill import run_recipe
    from ragdistill.distill.rerank_evaluate import ab_for_reranker_recipe
    from ragdistill.recipes import parse_recipe

    out = args.out / dataset / student
    out.mkdir(parents=True, exist_ok=True)
    recipe = parse_recipe(recipe_for(dataset, student, out, args), where=f"{dataset} recipe")
    start = time.perf_counter()
    artifact = run_recipe(recipe)
    ab_for_reranker_recipe(recipe, artifact)
    ab = json.loads((out / "ab" / "ab.json").read_text())
    ab["wall_seconds"] = time.perf_counter() - start
    ab["manifest_metrics"] = json.loads((artifact / "ragdistill.json").read_text())["metrics"]
    return ab


def _diff(ab: dict, arm: str, ref: str) -> str:
    c = next(
        c for c in ab["comparisons"]
        if c["metric"] == "ndcg@10" and c["arm"] == arm and c["reference"] == ref
    )  # fmt: skip
    return f"{c['diff']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}]"


def row(dataset: str, student: str, ab: dict) -> list[str]:
    arms = ab["arms"]
    t, s, f = arms["teacher"], arms["student"], arms["first_stage"]
    nd = {n: a["metrics"]["ndcg@10"] for n, a in (("t", t), ("s", s), ("f", f))}
    speed = []
    for size in ab["settings"]["latency_candidates"]:
        tl, sl = t["latency"][str(size)]["p50_ms"], s["latency"][str(size)]["p50_ms"]
        speed.append(f"{tl:.0f} / {sl:.0f} = **{tl / sl:.1f}x**")
    return [
        dataset,
        student,
        f"{nd['t']:.4f}",
        f"{nd['s']:.4f}",
        f"{nd['f']:.4f}",
        f"**{nd['s'] / nd['t']:.1%}**",
        _diff(ab, "student", "teacher"),
        _diff(ab, "student", "first_stage"),
        f"{s['metrics']['mrr@10']:.3f} / {t['metrics']['mrr@10']:.3f}",
        f"{s['agreement']['kendall_tau']['mean']:.3f}",
        *speed,
        str(len(ab["query_ids"])),
    ]


def head(sizes: list[int]) -> list[str]:
    return [
        "dataset", "student", "teacher nDCG@10", "student nDCG@10", "first stage nDCG@10",
        "student / teacher", "student - teacher (95% CI)", "student - first stage (95% CI)",
        "MRR@10 student / teacher", "Kendall tau vs teacher",
        *[f"p50 ms @{n} teacher / student" for n in sizes], "queries",
    ]  # fmt: skip


def table(rows: list[list[str]], sizes: list[int]) -> str:
    cols = head(sizes)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="scifact,squad")
    parser.add_argument("--students", default="cross-encoder")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-reranker")
    parser.add_argument("--train-queries", type=int, default=250)
    parser.add_argument("--eval-queries", type=int, default=100)
    parser.add_argument("--latency-queries", type=int, default=2)
    parser.add_argument("--k", type=int, default=30, help="first-stage candidates mined")
    parser.add_argument("--negatives", type=int, default=3)
    parser.add_argument("--in-batch", type=int, default=1)
    parser.add_argument("--baseline", action="store_true", help="Also A/B the untrained student.")
    parser.add_argument("--no-write", action="store_true", help="Print only; leave BENCHMARKS.md.")
    args = parser.parse_args()
    args.out = args.out.resolve()
    rows, notes, sizes = [], [], [20, 50, 100]
    for dataset in args.datasets.split(","):
        if not NEEDS[dataset].exists():
            print(f"skipping {dataset}: {NEEDS[dataset]} is absent (labeled sets live there)")
            continue
        for student in args.students.split(","):
            ab = run(dataset, student, args)
            sizes = ab["settings"]["latency_candidates"]
            rows.append(row(dataset, student, ab))
            m = ab["manifest_metrics"]
            notes.append(
                f"- **{dataset} / {student}**: {DATASETS[dataset][1]}; {m['train/queries']} training "
                f"queries x {m['train/candidates_per_query']} candidates, {m['train/steps']} steps "
                f"({m['train/seconds'] / 60:.1f} min); mine + label + train + A/B took "
                f"{ab['wall_seconds'] / 60:.1f} min."
            )
            print(table(rows, sizes))
    if rows and not args.no_write:
        body = "\n".join([
            "Command: `python benchmarks/bench_reranker.py` (resumes if re-run). Recipe "
            "`src/ragdistill/recipes/reranker-quickstart.toml` with the dataset (and student) swapped. "
            "Teacher: **the bi-encoder all-mpnet-base-v2** (no cross-encoder weights install offline), "
            "scoring a pair by cosine. First stage: all-MiniLM-L6-v2 over Chroma. Student: "
            "all-MiniLM-L6-v2 pruned to layers 0, 2, 4 as a one-logit cross-encoder (head trained from "
            "scratch). Labels come from the teacher only; judged queries are never trained on.",
            f"Every arm reranks the same top-20 first-stage candidates of the first {args.eval_queries} "
            "judged queries, in one process on the 2-core CPU (fp32); nDCG@10 with paired-bootstrap "
            "95% CIs. Latency: p50 wall time to score one query's candidates from scratch (the teacher "
            f"embeds query and candidates, the student reads every pair), {args.latency_queries} queries "
            "per size, arms interleaved.",
            "",
            table(rows, sizes),
            "",
            *notes,
            "",
            f"Full per-arm numbers and plots: `{args.out}/<dataset>/<student>/ab/report.html`.",
        ])  # fmt: skip
        replace_section(ROOT / "BENCHMARKS.md", "reranker", "Reranker distillation", body)


if __name__ == "__main__":
    main()
