"""Pipeline A/B on SQuAD v1.1 dev: the teacher RAG pipeline against the distilled one.

    python benchmarks/bench_pipeline.py                      # prepare, then the A/B (resumes)
    python benchmarks/bench_pipeline.py --max-minutes 60     # stop after an hour; rerun resumes
    python benchmarks/bench_pipeline.py --prepare-only       # only the distillations

Arms (every one answers the same 300 questions, one at a time, interleaved):
- **teacher**: all-mpnet-base-v2 over Chroma -> the reranker teacher (z-scored ensemble of
  the bi-encoders all-mpnet-base-v2 and all-MiniLM-L6-v2) -> Qwen2.5-Coder-0.5B-Instruct;
- **distilled**: the distilled embedder (MiniLM-L6, 4 layers) -> the distilled ColBERT
  reranker -> the distilled SmolLM2-135M generator;
- the ablation: the teacher with one stage taken from the distilled pipeline.

The 300 questions come from 6 held-out articles (seed 0): the generator student never
trained on a prompt from them, and the embedder and reranker students distilled here
train on no question of theirs either (the same ``eval_articles``). Contexts are
retrieved from all 2,067 dev paragraphs. SQuAD questions stand alone, so neither arm
has a query transformer (the query-transformer benchmark measures one on follow-ups).
Every answer is stored as soon as it exists, so a run spread over several sessions
resumes; each question is timed live when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
SHARED = ROOT.parent / "shared" / "data"
SQUAD = SHARED / "squad-v1.1-dev" / "dev-v1.1.json"
HELD_OUT = {"eval_queries": 300, "eval_articles": 6, "seed": 0}
GENERATOR = ROOT / "runs" / "bench-generator" / "run" / "student"
#: What an hour of the machine costs (a 2-vCPU cloud instance, order of magnitude).
HARDWARE_PER_HOUR = 0.09
SQUAD_PROMPT = (
    "You answer questions using only the numbered contexts you are given. Answer with the "
    "shortest phrase from the contexts that answers the question, not a sentence. If the "
    "contexts do not contain the answer, reply exactly: {abstain}"
)


def prepare_embedder(out: Path) -> Path:
    """The embedder benchmark's SQuAD recipe, trained without the held-out articles."""
    from bench_embedder import recipe_for

    from ragdistill.distill import run_recipe
    from ragdistill.recipes import parse_recipe, tomllib

    text = recipe_for("squad", out)
    text = text.replace("eval_queries = 300\n", "eval_queries = 300\neval_articles = 6\n")
    text = text.replace("[evaluate]\n", "[evaluate]\nab = false\n")
    (out / "squad").mkdir(parents=True, exist_ok=True)
    (out / "squad" / "recipe.toml").write_text(text)
    return run_recipe(parse_recipe(tomllib.loads(text), where="bench_pipeline embedder recipe"))


def prepare_reranker(out: Path) -> Path:
    """The reranker benchmark's SQuAD ColBERT recipe, trained without the held-out articles."""
    from bench_reranker import recipe_for

    from ragdistill.distill import run_recipe
    from ragdistill.recipes import parse_recipe

    args = argparse.Namespace(out=out, k=30, negatives=3, in_batch=1, train_queries=250,
                              eval_queries=100, latency_queries=2, baseline=False)  # fmt: skip
    data = recipe_for("squad", "colbert", out / "squad" / "colbert", args)
    data["data"].update(HELD_OUT)
    data["evaluate"]["ab"] = False
    return run_recipe(parse_recipe(data, where="bench_pipeline reranker recipe"))


def spec_text(embedder: Path, reranker: Path, generator: Path, index: Path) -> str:
    doc_index = index / "colbert-doc-index.safetensors"
    return f'''name = "squad-teacher-vs-distilled"
control = "teacher"
treatment = "distilled"
ablate = true
k = 10
contexts = 2
max_new_tokens = 24
context_chars = 900

[prompt]
system = {json.dumps(SQUAD_PROMPT)}

[cost]
hardware_per_hour = {HARDWARE_PER_HOUR}

[arms.teacher.embedder]
model = "all-mpnet-base-v2"

# The ensemble stands in for a cross-encoder, which reads every candidate on every query:
# its bi-encoders keep no document vectors between queries (document_cache_size = 0).
[arms.teacher.reranker]
kind = "ensemble"
normalize = "zscore"
weights = [1.0, 1.0]
members = [
  {{ kind = "bi-encoder", model = "all-mpnet-base-v2", batch_size = 16, max_seq_length = 256, document_cache_size = 0 }},
  {{ kind = "bi-encoder", model = "all-MiniLM-L6-v2", batch_size = 32, max_seq_length = 256, document_cache_size = 0 }},
]

[arms.teacher.generator]
kind = "hf-causal-lm"
model = "Qwen2.5-Coder-0.5B-Instruct"

[arms.distilled.embedder]
artifact = "{embedder}"

[arms.distilled.reranker]
artifact = "{reranker}"
doc_index = "{doc_index}"

[arms.distilled.generator]
artifact = "{generator}"
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-pipeline")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="Stop starting questions after this long (a rerun resumes).")  # fmt: skip
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="Do not touch BENCHMARKS.md.")
    parser.add_argument("--report-only", action="store_true",
                        help="Rewrite the BENCHMARKS.md section from the last run's ab.json.")  # fmt: skip
    args = parser.parse_args()
    if args.report_only:
        from markdown_section import replace_section

        from ragdistill.rag.result import PipelineABResult

        result = PipelineABResult.from_json(args.out / "ab" / "ab.json")
        text = body(result, None)
        print(text)
        replace_section(ROOT / "BENCHMARKS.md", "pipeline", "Pipeline A/B", text)
        return
    if not SQUAD.is_file():
        sys.exit(f"skipping: {SQUAD} is absent (labeled sets live in ../shared/data)")
    if not GENERATOR.is_dir():
        sys.exit(f"{GENERATOR} is absent: run benchmarks/bench_generator.py first "
                 "(--eval-questions 300 --train-questions 160 --epochs 2)")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    embedder = prepare_embedder(args.out / "embedder")
    reranker = prepare_reranker(args.out / "reranker")
    print(f"students ready: {embedder}, {reranker}, {GENERATOR}")
    if args.prepare_only:
        return
    from ragdistill.data.splits import split_questions
    from ragdistill.data.squad import SquadDataset
    from ragdistill.distill.lock import hold_output
    from ragdistill.rag.components import ComponentPool
    from ragdistill.rag.offline import run_offline_ab
    from ragdistill.rag.report import write_report
    from ragdistill.rag.spec import load_spec

    ab_dir = args.out / "ab"
    spec_file = args.out / "pipeline.toml"
    spec_file.write_text(spec_text(embedder, reranker, GENERATOR, ab_dir / "index"))
    spec = load_spec(spec_file)
    data = SquadDataset(SQUAD, **HELD_OUT).load()
    _, eval_ids = split_questions(data, max_eval=300, max_train=0, seed=0)
    with hold_output(ab_dir):
        result = run_offline_ab(spec, data, eval_ids, ab_dir, pool=ComponentPool(),
                                max_minutes=args.max_minutes)  # fmt: skip
        result.to_json(ab_dir / "ab.json")
        write_report(result, ab_dir / "report.html")
    print(result.summary())
    minutes = (time.perf_counter() - start) / 60
    text = body(result, minutes)
    print(text)
    if not args.no_write:
        from markdown_section import replace_section

        replace_section(ROOT / "BENCHMARKS.md", "pipeline", "Pipeline A/B", text)


def body(result: object, minutes: float | None) -> str:
    from ragdistill.rag.result import PipelineABResult

    assert isinstance(result, PipelineABResult)
    r = result
    done = min(a.n for a in r.arms)
    wanted = r.dataset.get("evaluated_questions", done)
    partial = (
        [f"**Partial: {done} of the {wanted} questions answered by every arm so far** (the run "
         "resumes where it stopped; every figure below is over those questions only).", ""]
        if done < wanted
        else []
    )  # fmt: skip
    lines = [
        *partial,
        "Reproduce: `python benchmarks/bench_pipeline.py` (SQuAD v1.1 dev from ../shared/data; "
        "distils the embedder and reranker students first; resumes if re-run, also across "
        "sessions with `--max-minutes`).",
        "Arms: **teacher** = all-mpnet-base-v2 over Chroma -> bi-encoder ensemble reranker "
        "(mpnet + MiniLM, z-scored) -> Qwen2.5-Coder-0.5B-Instruct; **distilled** = distilled "
        "MiniLM-L6 embedder (4 layers) -> distilled ColBERT reranker -> distilled SmolLM2-135M; "
        "and the teacher with one stage swapped (`teacher+<stage>`). Held-out questions from 6 "
        "articles no student trained on; top 10 retrieved from all 2,067 paragraphs, 2 "
        "contexts to the generator, greedy answers of at most 24 tokens; no query transformer "
        "(SQuAD questions stand alone).",
        "",
        "| arm | stages from distilled | answer F1 | F1 - teacher (95% CI) | context recall | "
        "recall - teacher (95% CI) | nDCG@10 | p50 ms | speed-up (p50) | cost / 1k queries |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in r.arms:
        cells = [a.name, ", ".join(a.differs) or "-"]
        for metric in ("f1", "context_recall"):
            cells.append(f"{a.quality[metric]:.3f}")
            try:
                c = r.comparison(metric, a.name, r.control)
                cells.append(f"{c.diff:+.3f} [{c.low:+.3f}, {c.high:+.3f}]")
            except KeyError:
                cells.append("-")
        cost = "-" if a.cost_per_1k is None else f"${a.cost_per_1k:.4f}"
        cells += [f"{a.quality['ndcg@10']:.3f}", f"{a.latency_ms['p50']:,.0f}",
                  f"{r.speedup(a.name):.1f}x", cost]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *[f"- {r.headline(a.name)}" for a in r.arms if a.name != r.control]]
    # Answers of an arm whose spec changed were set aside (the log says where): not a result.
    lines += [f"- {note}" for note in r.notes if "set aside" not in note]
    lines += [
        f"- Cost: the measured local time at ${HARDWARE_PER_HOUR}/hour (a 2-vCPU cloud "
        "instance's order of price; every stage here runs locally, so the cost ratio is the "
        "time ratio).",
        "- Measured on the shared 2-core CPU (fp32), under load from other jobs (a CI run and "
        "tests ran beside it); every arm interleaved question by question in the same runs, "
        "so the load fell on all arms alike."
        + (f" Wall time of the run that wrote this: {minutes:.0f} min." if minutes else "")
        + " Per-stage latencies, memory, the ablation and answers side by side: "
        "`runs/bench-pipeline/ab/report.html`.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
