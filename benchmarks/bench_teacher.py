"""Embedder teacher choice: all-mpnet-base-v2, all-MiniLM-L6-v2 and their ensembles.

A student can only learn what its teacher knows better than the student already does: on
SciFact all-mpnet-base-v2 leads all-MiniLM-L6-v2 by about 0.01 nDCG@10, and distilled
from it the whole all-MiniLM-L6-v2 lost to its own start. This scores the two models and
the ``ensemble`` teacher kind over both (cosines averaged 1:1 and 2:1) on every judged
query the frontier evaluates, by exact cosine search over the whole corpus, with paired
bootstrap CIs against all-mpnet-base-v2 alone.

    python benchmarks/bench_teacher.py            # SciFact and SQuAD; cached vectors reused

The ensemble was chosen on SciFact's test queries (in sample); SQuAD is the held-out check,
scored only after the choice. Every member's vectors go through the teacher cache, so the
frontier benchmark's labelling reuses them (and this reuses the frontier's).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from markdown_section import replace_section  # noqa: E402

SETS = {
    "scifact": ("beir", {"path": str(SHARED / "scifact"), "unjudged_queries": True},
                "in sample: the ensemble was chosen here", "all 5,183 abstracts"),
    "squad": ("squad", {"path": str(SHARED / "squad-v1.1-dev" / "dev-v1.1.json"),
                        "eval_queries": 300},
              "held out: scored after the choice", "all 2,067 paragraphs"),
}  # fmt: skip
MEMBERS = {"mpnet": "all-mpnet-base-v2", "minilm": "all-MiniLM-L6-v2"}
ARMS = {
    "all-mpnet-base-v2": {"mpnet": 1.0},
    "all-MiniLM-L6-v2": {"minilm": 1.0},
    "ensemble 1:1 (the frontier's teacher)": {"mpnet": 1.0, "minilm": 1.0},
    "ensemble 2:1": {"mpnet": 2.0, "minilm": 1.0},
}
BASE = "all-mpnet-base-v2"


def score(name: str) -> dict[str, Any]:
    """nDCG@10 of every arm on ``name``'s evaluated queries, and each arm minus BASE."""
    import numpy as np

    from ragdistill.config import build
    from ragdistill.distill.cached_teacher import CachedEmbedder
    from ragdistill.evaluation.bootstrap import bootstrap_mean, paired_bootstrap
    from ragdistill.evaluation.retrieval import evaluate_run
    from ragdistill.registry import default_registry

    kind, options, _, _ = SETS[name]
    registry = default_registry()
    dataset = build(registry.dataset(kind), options, "data").load()
    qids = dataset.evaluable_query_ids()
    passages = dataset.passages()
    texts = [p.text for p in passages]
    unit: dict[str, tuple[Any, Any]] = {}
    for key, model in MEMBERS.items():
        embedder = build(registry.teacher("embedder", "sentence-transformers"),
                         {"model": model}, "teacher")  # fmt: skip
        cached = CachedEmbedder(embedder)
        cached.fill(texts, "document", show_progress=True)
        docs = cached.embed_many(texts, input_type="document")
        queries = cached.embed_many([dataset.queries[q] for q in qids], input_type="query")
        unit[key] = tuple(v / np.linalg.norm(v, axis=1, keepdims=True) for v in (docs, queries))

    def per_query(weights: dict[str, float]) -> list[float]:
        total = sum(weights.values())
        sims = sum(w / total * (unit[k][1] @ unit[k][0].T) for k, w in weights.items())
        run = {}
        for row, qid in enumerate(qids):
            ranking, seen = [], set()
            for j in np.argsort(-sims[row])[:100]:
                doc = passages[j].doc_id
                if doc not in seen:  # a document's best passage ranks it
                    seen.add(doc)
                    ranking.append((doc, float(sims[row, j])))
            run[qid] = ranking
        ndcg = evaluate_run(run, {q: dataset.qrels[q] for q in qids}, cutoffs=(10,))["ndcg@10"]
        return [ndcg[q] for q in qids]

    scores = {arm: per_query(weights) for arm, weights in ARMS.items()}
    out: dict[str, Any] = {"queries": len(qids), "passages": len(passages), "arms": {}}
    for arm, values in scores.items():
        ci = bootstrap_mean(values, n_resamples=1000, seed=0)
        diff = paired_bootstrap(scores[BASE], values, n_resamples=1000, seed=0)
        out["arms"][arm] = {"ndcg@10": ci.mean, "ci": [ci.low, ci.high],
                            "minus_base": [diff.mean, diff.low, diff.high]}  # fmt: skip
    return out


def render(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "Command: `python benchmarks/bench_teacher.py` (after `make setup`; member vectors "
        "come from the teacher cache, shared with the frontier benchmark). nDCG@10 on the "
        "frontier's evaluated queries by exact cosine search over the whole corpus; an "
        "ensemble ranks by the weighted mean of its members' cosines (the `ensemble` "
        "teacher kind). Differences are paired bootstrap 95% CIs against all-mpnet-base-v2.",
        "",
        "| set | data role | arm | nDCG@10 [95% CI] | minus all-mpnet-base-v2 [CI] |",
        "|---|---|---|---|---|",
    ]
    for name, result in results.items():
        _, _, role, corpus = SETS[name]
        for arm, r in result["arms"].items():
            low, high = r["ci"]
            diff = "-" if arm == BASE else "{:+.4f} [{:+.4f}, {:+.4f}]".format(*r["minus_base"])
            lines.append(f"| {name} ({result['queries']} queries, {corpus}) | {role} | {arm} | "
                         f"{r['ndcg@10']:.4f} [{low:.3f}, {high:.3f}] | {diff} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="scifact,squad")
    parser.add_argument("--results", type=Path, default=ROOT / "runs" / "bench-teacher.json")
    args = parser.parse_args()
    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    for name in args.datasets.split(","):
        if not Path(SETS[name][1]["path"]).exists():
            print(f"skipping {name}: ../shared/data is absent (labeled sets live there)")
            continue
        results[name] = score(name)
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=2))
    if results:
        body = render({n: results[n] for n in SETS if n in results})
        print(body)
        replace_section(ROOT / "BENCHMARKS.md", "teacher", "Embedder teacher choice", body)


if __name__ == "__main__":
    main()
