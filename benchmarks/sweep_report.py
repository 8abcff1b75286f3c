"""The frontier benchmark's tables: one per set, budget and teacher, from its saved A/B
(see bench_sweep.py); a set without results is carried over from BENCHMARKS.md."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from markdown_section import read_subsection
from sweep_setup import (
    BIG,
    CANDIDATE_NAMES,
    CAVEATS,
    CHOSEN_ON,
    DATA,
    NOTES,
    PEER,
    REFERENCES,
    ROOT,
    STARTS,
    Budget,
)  # fmt: skip


def load(name: str, out: Path) -> dict:
    return json.loads((out / name / "sweep" / "ab.json").read_text())


def _finished(name: str, out: Path) -> list[str]:
    """The candidates of a set whose artifact is saved (an interrupted sweep's progress)."""
    folders = {"recipe": out / name / "student"}
    folders |= {c: out / name / "sweep" / "candidates" / c / "student" for c in CANDIDATE_NAMES}
    return [c for c, folder in folders.items() if (folder / "ragdistill.json").is_file()]


def rows_for(name: str, ab: dict, out: Path, budget: Budget) -> tuple[list[list[str]], list[str]]:
    from ragdistill.stages.embedder.ab_result import ABResult
    from ragdistill.stages.embedder.frontier import frontier_rows, verdict

    result = ABResult.from_dict(ab)
    teacher = result.arms["teacher"]
    rows, bars = [], []
    found = frontier_rows(result, "ndcg@10")
    references = [r for r in found if r.role == "reference"]
    for row in found:
        # What indexing (and re-indexing) the corpus costs, beside the query speed.
        passages = result.arms[row.name].passage_speedup(teacher)
        what = NOTES.get(row.name) or _note(name, row.name, out, budget) or row.role
        if _best_step(result, row.name) == 0:
            what += ", but its start was kept (train min)"
        if caveat := CAVEATS.get((out.name, name, row.name.removesuffix("@int8"))):
            what += f" ({caveat})"
        kept = "-" if math.isnan(row.kept) else f"{row.kept:.1%}"
        if not math.isnan(row.kept_low):
            kept += f" [{row.kept_low:.1%}, {row.kept_high:.1%}]"
        minutes = _train_minutes(result, row.name)
        rows.append([
            f"**{row.name}**" if row.on_frontier else row.name, row.role, what,
            f"{row.quality:.4f} [{row.low:.3f}, {row.high:.3f}]", kept,
            f"{row.speedup:.1f}x", "-" if passages is None else f"{passages:.1f}x",
            "yes" if row.on_frontier else "", verdict(row) or "-",
            minutes, CHOSEN_ON[name] + budget.chosen if row.role == "candidate" else "-",
        ])  # fmt: skip
        if row.on_frontier and row.pays:
            bars.append(row.name + _nearest_slower(result, row, references))
        elif row.on_frontier and row.pays is None and row.role == "candidate":
            bars.append(f"not {row.name} ({verdict(row)})")
    return rows, bars


def _nearest_slower(result: Any, row: Any, references: list[Any]) -> str:
    """The fastest reference below the bar's speed window, beside an arm that met the bar:
    the window's edge decides what the arm had to beat, so the reader sees the next one."""
    from ragdistill.stages.embedder.frontier import SIMILAR_SPEED, _said

    slower = [r for r in references if r.speedup < SIMILAR_SPEED * row.speedup]
    if not slower:
        return ""
    ref = max(slower, key=lambda r: r.speedup)
    try:
        c = result.comparison("ndcg@10", row.name, ref.name)
    except KeyError:
        return ""
    return (f" (at {row.speedup:.1f}x; the fastest reference below the window, "
            f"{ref.name} at {ref.speedup:.1f}x: it {_said(ref.name, (c.diff, c.low, c.high))})")  # fmt: skip


def _note(name: str, arm: str, out: Path, budget: Budget) -> str:
    from ragdistill.recipes import tomllib

    recipe = tomllib.loads((out / name / "recipe.toml").read_text())
    for c in recipe.get("sweep", {}).get("candidates", []):
        if c["name"] == arm:
            return str(c.get("note", ""))
    if arm.endswith("@int8"):
        if arm[:-5] in REFERENCES:
            return "as downloaded, on ONNX Runtime with int8 weights (dynamic quantization)"
        return f"{arm[:-5]} on ONNX Runtime, int8 weights (dynamic quantization)"
    return budget.teacher.note if arm == "teacher" else "as downloaded"


def _metrics(result: object, arm: str) -> dict | None:
    """The training metrics in a candidate's manifest (None: not a candidate)."""
    path = getattr(result, "settings", {}).get("candidates", {}).get(arm)
    if not path:
        return None
    return json.loads((Path(path) / "ragdistill.json").read_text()).get("metrics", {})


def _best_step(result: object, arm: str) -> int | None:
    return (_metrics(result, arm) or {}).get("train/best_step")


def _train_minutes(result: object, arm: str) -> str:
    from ragdistill.distill.selection import training_note

    metrics = _metrics(result, arm)
    if metrics is None:
        return "-"
    seconds = metrics.get("train/seconds")
    note = training_note(metrics)
    return (f"{seconds / 60:.0f}" if seconds else "-") + (f" ({note})" if note else "")


def quantization_and_peer(ab: dict) -> list[str]:
    """The int8 student against the teacher and its fp32 self, and the peer library."""
    from ragdistill.ab.headline import kept_of_teacher
    from ragdistill.evaluation.bootstrap import paired_bootstrap
    from ragdistill.stages.embedder.ab_result import ABResult

    result = ABResult.from_dict(ab)
    teacher = result.arms["teacher"]
    # An ensemble teacher is slower than its big member alone: speed counts against the
    # faster of the two, so a slow teacher cannot flatter a speedup.
    big = result.arms.get(BIG)

    def bar(arm: str) -> tuple[Any, float, str] | None:
        kept = kept_of_teacher(
            result.comparison("ndcg@10", arm, "teacher"), teacher.metrics["ndcg@10"]
        )
        if kept is None:  # a teacher scoring 0 leaves no share to speak of
            return None
        speed = result.arms[arm].query_speedup(teacher) or math.nan
        said = f"{speed:.1f}x its query-encode speed"
        if big is not None:
            alone = result.arms[arm].query_speedup(big) or math.nan
            said += f" ({alone:.1f}x {BIG}'s alone)"
            speed = min(speed, alone)
        return kept, speed, said

    lines, met_by = [], []
    for arm in ("recipe@int8", "recipe"):
        if arm not in result.arms or (found := bar(arm)) is None:
            continue
        kept, speed, said = found
        met = "met" if kept.share >= 0.95 and speed >= 15 else "not met"
        line = (f"- **{arm}**: {kept.share:.1%} of the teacher's nDCG@10 (CI {kept.low:.1%} to "
                f"{kept.high:.1%}) at {said}; bar (>= 95% at >= 15x): {met}")  # fmt: skip
        if big is not None:
            # What a user who serves the big member today keeps by swapping the student in;
            # not the bar, which counts against the teacher that taught it.
            diff = paired_bootstrap(big.per_query["ndcg@10"], result.arms[arm].per_query["ndcg@10"],
                                    n_resamples=1000, seed=0)  # fmt: skip
            mean = big.metrics["ndcg@10"]
            line += (f". Of {BIG}'s own nDCG@10 (the model a user may serve today, not the "
                     f"bar): {1 + diff.mean / mean:.1%} (CI {1 + diff.low / mean:.1%} to "
                     f"{1 + diff.high / mean:.1%})")  # fmt: skip
        lines.append(line + ".")
    for arm, row in result.arms.items():
        if row.role == "candidate" and arm.endswith("@int8") and (found := bar(arm)):
            kept, speed, said = found
            if kept.share >= 0.95 and speed >= 15:
                met_by.append(f"{arm} ({kept.share:.1%} at {said})")
    lines.append(f"- **Int8 students at >= 95% of the teacher and >= 15x**: "
                 f"{'; '.join(met_by) or 'none'}.")  # fmt: skip
    if big is not None:
        c = result.comparison("ndcg@10", BIG, "teacher")
        lines.append(f"- **The teacher - {BIG}** (what the ensemble adds to its big member): "
                     f"nDCG@10 {-c.diff:+.4f} [{-c.high:+.4f}, {-c.low:+.4f}]; {BIG} alone "
                     f"encodes queries {big.query_speedup(teacher) or math.nan:.2f}x as fast.")  # fmt: skip
    for ref in REFERENCES:
        try:
            c = result.comparison("ndcg@10", ref, "teacher")
        except KeyError:
            continue
        lines.append(f"- **Headroom over {ref}**: the teacher leads it by {-c.diff:+.4f} "
                     f"[{-c.high:+.4f}, {-c.low:+.4f}] nDCG@10: about the most a student of "
                     "this teacher can hope to beat it by.")  # fmt: skip
    for arm, start in STARTS.items():
        try:
            c = result.comparison("ndcg@10", arm, start)
        except KeyError:
            continue
        word = "gained" if c.low > 0 else "lost" if c.high < 0 else "changed nothing clear"
        said = (f"- **{arm} - {start}** (what distillation did to the model it started "
                f"from): nDCG@10 {c.diff:+.4f} [{c.low:+.4f}, {c.high:+.4f}]: it {word}")  # fmt: skip
        if _best_step(result, arm) == 0:
            # eval_on_start kept the start: what differs from the download is only the
            # reading length the recipe gives it (384 word pieces, not the model's 256/128).
            said += (". No trained weights beat its start on the dev split, so the artifact "
                     "is the start itself, reading 384 word pieces where the download reads "
                     "its default: the difference is reading length, not distillation")  # fmt: skip
        lines.append(said + ".")
    for arm, ref, what in (("recipe@int8", "recipe", "what int8 quantization costs"),
                           ("recipe", PEER, "what ragdistill's recipe adds over sentence-transformers' MSELoss")):  # fmt: skip
        try:
            c = result.comparison("ndcg@10", arm, ref)
        except KeyError:
            continue
        lines.append(f"- **{arm} - {ref}** ({what}): nDCG@10 {c.diff:+.4f} [{c.low:+.4f}, {c.high:+.4f}]"
                     f"{' (significant)' if c.significant else ' (no clear difference)'}.")  # fmt: skip
    return lines


HEAD = ["arm", "role", "what", "nDCG@10 [95% CI]", "of the teacher [CI]", "query-encode speed",
        "passage-encode speed", "frontier", "against references as fast or faster (diff [CI])", "train min",
        "recipe chosen on"]  # fmt: skip


def table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _section(name: str, ab: dict, out: Path, budget: Budget) -> list[str]:
    rows, bars = rows_for(name, ab, out, budget)
    met = [b for b in bars if not b.startswith("not ")]
    passed = ", ".join(met) if met else "none"
    if unproven := [b for b in bars if b.startswith("not ")]:
        passed += "; " + ", ".join(unproven)
    wall = f"{ab['settings'].get('wall_seconds', float('nan')) / 60:.0f} min"
    print(table(rows))
    return [
        f"### {name}, {budget.about}", "",
        f"{DATA[name][1]}. {len(ab['query_ids'])} queries. Budget: {budget.describe()}."
        + (f" {ROUNDS_NOTE.format(rounds)}" if (rounds := ab["settings"].get("throughput_rounds"))
           else ""), "",
        table(rows), "",
        f"- **Bar** (a distilled student on the frontier beats every reference at similar "
        f"or higher speed, CI low > 0): met by {passed}.",
        *quantization_and_peer(ab),
        f"- Run: {wall} of wall time for this sweep call (labelling, training of what was "
        "not finished, indexing, the side-by-side run).", "",
    ]  # fmt: skip


#: Opens the note above a table carried over from an earlier run.
CARRIED = "*Carried over from an earlier run"
DRIFT = (
    " Its speeds were taken one arm after another, before speed was measured in "
    "interleaved rounds, and drifted with the machine's load: on SciFact "
    "paraphrase-MiniLM-L3-v2@int8 read 32.4x and paraphrase-l3@int8 (the same architecture, "
    "distilled) 47.7x; timed later in rounds, paraphrase-MiniLM-L3-v2@int8 read 24.6x and an "
    "untrained model of the same architecture 24.4x. Read its speed columns and the verdicts "
    "that rest on them with that in mind."
)
#: Said under the heading of a table whose speeds were measured in rounds.
ROUNDS_NOTE = "Speed measured in {} interleaved rounds."


def _carried(name: str, budget: Budget, *, running: bool) -> list[str]:
    """A set's table as BENCHMARKS.md holds it, when its results are not on this machine
    (or not finished): a fresh machine must not erase the only record of an hour's run."""
    body = read_subsection(ROOT / "BENCHMARKS.md", "frontier", f"{name}, {budget.about}")
    if body is None:
        return []
    if body.startswith(CARRIED):  # the note of an earlier carry-over: written anew
        body = body.split("\n\n", 1)[1] if "\n\n" in body else ""
    why = ("while this set's new run is in progress (see Partial above)" if running
           else "because its results folder is not on this machine")  # fmt: skip
    note = f"{CARRIED}, {why}: this table was not rewritten."
    if ROUNDS_NOTE.split("{}")[1].strip() not in body:
        note += DRIFT
    return [f"### {name}, {budget.about}", "", note + "*", "", body, ""]


def _partial(names: list[str], out: Path, budget: Budget) -> str:
    done = {n: _finished(n, out) for n in names}
    return (
        f"**Partial ({budget.about})**: not compared yet: "
        + "; ".join(
            f"{n} ({len(d)} of {len(CANDIDATE_NAMES) + 1} candidates distilled"
            + (f": {', '.join(d)}" if d else "")
            + ")"
            for n, d in done.items()
        )
        + ". Re-run the command to resume. "
    )
