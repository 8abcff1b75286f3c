"""Embedder frontier: several distilled students and the models a user would download instead.

For SciFact (all 5,183 abstracts) and SQuAD v1.1 dev (all 2,067 paragraphs) it runs
``ragdistill sweep`` on one recipe: five candidate students distilled from one teacher,
then every candidate, the teacher and the reference arms (all-MiniLM-L6-v2 and
paraphrase-MiniLM-L3-v2 as downloaded, and all-mpnet-base-v2 beside an ensemble
teacher) side by side in one process. Quality: nDCG@10 on the evaluated queries with paired-bootstrap 95% CIs;
speed: query-encode throughput over the teacher's, from the same run.

    python benchmarks/bench_sweep.py                       # both sets; resumes if re-run
    python benchmarks/bench_sweep.py --datasets squad      # one set
    python benchmarks/bench_sweep.py --budget long         # the longer training budget
    python benchmarks/bench_sweep.py --teacher mpnet       # all-mpnet-base-v2 alone teaches
    python benchmarks/bench_sweep.py --report-only         # rewrite BENCHMARKS.md from results

The recipe is the same for both sets and was not tuned on either set's evaluated
queries here: its losses, batches and rate were chosen on the SciFact 600-document
subset in earlier sessions (so SciFact is in sample for them, on a corpus 8.6 times
larger), and SQuAD is out of sample. Training stops on a dev split of the training
text (never the evaluated queries). Labelling, training and indexing resume: kill the
run at any time and start it again.

Two training budgets, each in its own folder and table. ``short`` (2,000 texts, at most 4
epochs) fits a session of this CPU. ``long`` (6,000 texts, at most 8 epochs) exists because
the short budget's dev-split curves were still rising at its cap: the dev split (label-free)
ends each candidate instead. The peer then takes as many steps as the recipe's student did.

Two teachers, each in its own folders and tables. ``ensemble`` (the default) averages the
cosines of all-mpnet-base-v2 and all-MiniLM-L6-v2; distilled from all-mpnet-base-v2 alone
(``mpnet``), the whole all-MiniLM-L6-v2 lost to its own start on both sets, and the
teacher led that start by only 0.011 nDCG@10 on SciFact. The ensemble is chosen on
SciFact's test queries (in sample, like the recipe); SQuAD stays out of sample. Speed
bars count against all-mpnet-base-v2 alone when it is faster than the ensemble.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_files import shown
from markdown_section import replace_section
from sweep_report import (
    CANDIDATE_NAMES,
    _carried,
    _partial,
    _section,
    load,
)  # fmt: skip
from sweep_setup import (
    BUDGETS,
    DATA,
    PEER,
    REFERENCES,
    ROOT,
    ROUNDS,
    SHARED,
    TEACHERS,
    Budget,
    recipe_text,
)  # fmt: skip


def run(name: str, out: Path, budget: Budget) -> dict:
    """Distill the candidates (resuming), train the peer, then every arm side by side."""
    from peer_st import train_peer

    from ragdistill.distill.sweep import run_sweep, sweep_folder
    from ragdistill.loading import load_arm, load_component, resolve_runtime
    from ragdistill.recipes import parse_recipe, tomllib
    from ragdistill.stages.embedder.ab import reference_name
    from ragdistill.stages.embedder.ab_report import write_html_report
    from ragdistill.stages.embedder.sweep import sweep_arms

    text = recipe_text(name, out, budget)
    (out / name).mkdir(parents=True, exist_ok=True)
    (out / name / "recipe.toml").write_text(text)
    recipe = parse_recipe(tomllib.loads(text), where=f"{name} frontier recipe")
    start = time.perf_counter()
    run_sweep(recipe, evaluate=False)
    artifacts = {n: sweep_folder(recipe) / "candidates" / n / "student" for n in CANDIDATE_NAMES}
    artifacts["recipe"] = Path(recipe.output) / "student"
    peer = train_peer(_same_steps(recipe, artifacts["recipe"]), out / name / "peer")
    arms = sweep_arms(recipe, artifacts)
    for spec in budget.teacher.references:  # a teacher's member: its vectors are cached
        arms.index_embedders[reference_name(spec)] = _cached(spec, recipe)
    # Each candidate again on ONNX Runtime with int8 weights: what quantization costs. The
    # references get the same export, which a user could apply to them just as well: an int8
    # student is held against int8 references of its speed, not only slower fp32 ones.
    int8 = resolve_runtime("onnx", {"quantize": "int8"})
    references = [reference_name(r) for r in REFERENCES]
    quantized = [f"{r}@int8" for r in references]
    for spec, arm in zip(REFERENCES, quantized):
        arms.add(arm, load_arm(spec, stage="embedder", runtime=int8), "reference")
    for cand, artifact in artifacts.items():
        arms.pairs += [(cand, ref) for ref in quantized]
        arms.add(f"{cand}@int8", load_component(artifact, "embedder", runtime=int8), "candidate",
                 compare=[cand, *references, *quantized])  # fmt: skip
    # The recipe's student trained by sentence-transformers' own distillation recipe.
    arms.add(PEER, load_arm(str(peer), stage="embedder"), "peer", compare=["recipe"])
    arms.pairs.append(("recipe", PEER))
    result = arms.run(sweep_folder(recipe), show_progress=True)
    result.settings["candidates"] = {n: str(a) for n, a in artifacts.items()}
    result.settings["wall_seconds"] = time.perf_counter() - start
    result.to_json(sweep_folder(recipe) / "ab.json")
    write_html_report(result, sweep_folder(recipe) / "report.html")
    return load(name, out)


def _cached(model: str, recipe: Any) -> Any:
    """``model`` behind the teacher cache, named as a teacher member names it."""
    from ragdistill.config import build
    from ragdistill.distill.cached_teacher import CachedEmbedder
    from ragdistill.registry import default_registry

    kind = default_registry().teacher("embedder", "sentence-transformers")
    root = Path(recipe.cache_dir) if recipe.cache_dir else None
    return CachedEmbedder(build(kind, {"model": model}, "reference"), root=root)


def _same_steps(recipe: Any, artifact: Path) -> Any:
    """``recipe`` capped at the optimizer steps its student took, when it stopped early.

    The peer has no dev split to stop on; it gets the recipe's own step count, not the
    epoch cap the recipe never reached. A recipe that ran to its cap is returned as is.
    """
    metrics = json.loads((artifact / "ragdistill.json").read_text())["metrics"]
    if not metrics.get("train/stopped_early"):
        return recipe
    spec = recipe.train.model_copy(update={"max_steps": int(metrics["train/steps"])})
    return recipe.model_copy(update={"train": spec})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="scifact,squad")
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="short",
                        help="Training budget to run (default short); the report shows all.")  # fmt: skip
    parser.add_argument("--teacher", choices=sorted(TEACHERS), default="ensemble",
                        help="Teacher to distill from (default ensemble); the report shows all.")  # fmt: skip
    parser.add_argument("--runs", type=Path, default=ROOT / "runs",
                        help="Folder holding each budget's folder (bench-sweep, ...).")  # fmt: skip
    parser.add_argument("--report-only", action="store_true",
                        help="Write BENCHMARKS.md from the results on disk; run nothing.")  # fmt: skip
    args = parser.parse_args()
    names = []
    for name in args.datasets.split(","):
        if not (SHARED / ("scifact" if name == "scifact" else "squad-v1.1-dev")).exists():
            print(f"skipping {name}: ../shared/data is absent (labeled sets live there)")
            continue
        names.append(name)
        if not args.report_only:
            budget = BUDGETS[args.budget].taught_by(TEACHERS[args.teacher])
            run(name, args.runs / budget.folder, budget)
    sections, status = [], []
    for budget in (b.taught_by(t) for b in BUDGETS.values() for t in TEACHERS.values()):
        out = args.runs / budget.folder
        missing = []
        # Every set with results is rendered; a set without is carried over from the
        # section as it stands, so no run (of one set, or on a fresh machine) erases one.
        for name in DATA:
            if (out / name / "sweep" / "ab.json").is_file():
                sections += _section(name, load(name, out), out, budget)
                continue
            if name in names and (out / name).is_dir():
                missing.append(name)
            sections += _carried(name, budget, running=name in missing)
        if missing:
            status.append(_partial(missing, out, budget))
    if not sections and not status:
        return
    body = "\n".join([
        " ".join(status) + "Command: `python benchmarks/bench_sweep.py [--budget long] "
        "[--teacher mpnet]` (after "
        "`make setup`; resumes if re-run). Every arm of a set ran side by side in one process "
        "on the shared 2-core CPU (fp32), possibly under load from other jobs, which falls on "
        "all arms of the run alike. Speed: queries (and the first 256 passages) encoded per "
        f"second in calls of 32, over the teacher's: once every arm is indexed, the median of {ROUNDS} rounds that take the arms "
        "in turn (one pass each round), so load that drifts during the run falls "
        "on every arm. Bold arms are on the Pareto frontier (no arm both "
        "better and faster). A reference counts as as fast when its speed is at least 80% of "
        "the arm's. Within a table every candidate learned from the same cached teacher "
        "outputs with the same recipe and budget (said above the table).",
        "",
        *sections,
        f"Per-arm reports with the frontier plot: `{shown(args.runs)}/<budget folder>/<set>/"
        "sweep/report.html`.",
    ])  # fmt: skip
    replace_section(ROOT / "BENCHMARKS.md", "frontier", "Embedder frontier", body)


if __name__ == "__main__":
    main()
