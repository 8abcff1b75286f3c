"""``ragdistill sweep``: candidates from one recipe, distilled in turn, compared side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.core.tiny_beir import tiny_recipe, write_tiny_beir

pytest.importorskip("chromadb")


def sweep_recipe(root: Path, tiny_st_path: Path, reference: Path) -> Path:
    write_tiny_beir(root / "beir")
    extra = (
        f'references = ["{reference}"]\n'
        + f"""
[[sweep.candidates]]
name = "whole"
note = "the teacher-sized model, undistilled width"
student = {{ model = "{tiny_st_path}" }}

[[sweep.candidates]]
name = "short"
student = {{ max_seq_length = 16 }}
train = {{ epochs = 2, metric_for_best = "dev/ndcg@10" }}
"""
    )
    return tiny_recipe(root, str(tiny_st_path), str(tiny_st_path), root / "beir", extra=extra)


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory, tiny_st_path: Path) -> Path:
    from ragdistill.distill.sweep import run_sweep
    from ragdistill.recipes import load_recipe
    from ragdistill.testing.tiny import tiny_sentence_transformer

    root = tmp_path_factory.mktemp("sweep")
    reference = tiny_sentence_transformer(root / "off-the-shelf", layers=1, hidden=24)
    recipe = load_recipe(sweep_recipe(root, tiny_st_path, reference))
    report = run_sweep(recipe, show_progress=False)
    assert report is not None and report.is_file()
    return root


def test_every_candidate_and_reference_runs_side_by_side(swept: Path) -> None:
    ab = json.loads((swept / "out" / "sweep" / "ab.json").read_text())
    roles = {name: arm["role"] for name, arm in ab["arms"].items()}
    assert roles == {"teacher": "teacher", "recipe": "candidate", "whole": "candidate",
                     "short": "candidate", "off-the-shelf": "reference"}  # fmt: skip
    pairs = {(c["arm"], c["reference"]) for c in ab["comparisons"] if c["metric"] == "ndcg@10"}
    for name in ("recipe", "whole", "short"):
        assert {(name, "teacher"), (name, "off-the-shelf")} <= pairs
    assert ("off-the-shelf", "teacher") in pairs
    # The whole model took its own [student] table: no pruning or projection carried over.
    whole = json.loads(
        (swept / "out" / "sweep" / "candidates" / "whole" / "recipe.json").read_text()
    )
    assert "keep_layers" not in whole["student"] and "projection_dim" not in whole["student"]
    short = json.loads(
        (swept / "out" / "sweep" / "candidates" / "short" / "recipe.json").read_text()
    )
    assert short["student"]["max_seq_length"] == 16 and short["student"]["keep_layers"] == [0]
    assert short["train"]["epochs"] == 2
    page = (swept / "out" / "sweep" / "report.html").read_text()
    assert "Quality against speed" in page and "&#9679;" in page  # the frontier is marked
    # Only "short" keeps its best evaluation's weights, so only it has a training note.
    assert list(ab["settings"]["training"]) == ["short"]
    assert ab["settings"]["training"]["short"].startswith("best step ")
    assert "<th>training</th>" in page


def test_frontier_rows_say_what_each_distilled_arm_beats(swept: Path) -> None:
    from ragdistill.stages.embedder.ab_result import ABResult
    from ragdistill.stages.embedder.frontier import frontier_rows

    result = ABResult.from_json(swept / "out" / "sweep" / "ab.json")
    rows = frontier_rows(result, "ndcg@10")
    assert [r.speedup for r in rows] == sorted((r.speedup for r in rows), reverse=True)
    assert any(r.on_frontier for r in rows)
    teacher = next(r for r in rows if r.name == "teacher")
    assert teacher.kept == 1.0 and teacher.speedup == pytest.approx(1.0)
    for row in rows:
        if row.role == "candidate":
            ref_speed = next(r.speedup for r in rows if r.name == "off-the-shelf")
            assert ("off-the-shelf" in row.against) == (ref_speed >= 0.8 * row.speedup)


def test_a_second_sweep_resumes_and_trains_nothing(swept: Path) -> None:
    from ragdistill.distill.sweep import run_sweep
    from ragdistill.recipes import load_recipe

    logs = sorted((swept / "out").rglob("train_log.jsonl"))
    assert len(logs) == 3
    before = [log.read_text() for log in logs]
    recipe = load_recipe(swept / "recipe.toml")
    run_sweep(recipe, evaluate=False, show_progress=False)
    assert [log.read_text() for log in logs] == before


def test_list_names_each_candidate_and_what_it_changes(swept: Path) -> None:
    from ragdistill.cli import build_cli

    result = CliRunner().invoke(build_cli(), ["sweep", str(swept / "recipe.toml"), "--list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("recipe: the recipe as written")
    assert lines[2].startswith("short: {'student': {'max_seq_length': 16}, 'train': {'epochs': 2, ")


def test_bad_candidates_fail_before_anything_trains(tmp_path: Path, tiny_st_path: Path) -> None:
    from ragdistill.distill.sweep import candidate_recipes, run_sweep
    from ragdistill.errors import ConfigError
    from ragdistill.recipes import load_recipe

    path = sweep_recipe(tmp_path, tiny_st_path, tiny_st_path)
    text = path.read_text()
    path.write_text(text.replace("max_seq_length = 16", "max_seq_len = 16"))
    with pytest.raises(ConfigError, match=r"(?s)sweep candidate .short.*max_seq_len.*did you mean"):
        candidate_recipes(load_recipe(path))
    assert not (tmp_path / "out" / "checkpoints").exists()
    path.write_text(text.replace('name = "short"', 'name = "whole"'))
    with pytest.raises(ConfigError, match="'whole' repeats"):
        load_recipe(path)
    path.write_text(text)
    with pytest.raises(
        ConfigError, match=r"no sweep candidate named 'shrot'.*recipe, whole, short"
    ):
        run_sweep(load_recipe(path), only=["shrot"], show_progress=False)


def test_default_candidates_are_spread_layer_subsets(tmp_path: Path, tiny_st_path: Path) -> None:
    from ragdistill.distill.sweep import candidate_recipes
    from ragdistill.recipes import load_recipe
    from ragdistill.stages.embedder.sweep import spread_layers

    assert spread_layers(4, 6) == [0, 2, 3, 5] and spread_layers(2, 6) == [0, 5]
    assert spread_layers(6, 6) == list(range(6)) and spread_layers(1, 6) == [5]
    write_tiny_beir(tmp_path / "beir")
    path = tiny_recipe(tmp_path, str(tiny_st_path), str(tiny_st_path), tmp_path / "beir")
    recipes = candidate_recipes(load_recipe(path))  # the tiny model has 2 layers; recipe keeps [0]
    assert list(recipes) == ["recipe", "layers-2", "layers-1"]
    assert recipes["layers-2"].student.options["keep_layers"] is None
    assert recipes["layers-1"].student.options["keep_layers"] == [1]


def test_a_sweep_table_leaves_the_recipe_fingerprint_alone(
    tmp_path: Path, tiny_st_path: Path
) -> None:
    """Adding [sweep] to a recipe that is training must not orphan its checkpoints."""
    from ragdistill.recipes import load_recipe, recipe_fingerprint

    with_sweep = load_recipe(sweep_recipe(tmp_path / "a", tiny_st_path, tiny_st_path))
    write_tiny_beir(tmp_path / "a" / "beir")
    plain = load_recipe(tiny_recipe(tmp_path / "a", str(tiny_st_path), str(tiny_st_path),
                                    tmp_path / "a" / "beir"))  # fmt: skip
    assert with_sweep.sweep is not None and plain.sweep is None
    assert recipe_fingerprint(with_sweep) == recipe_fingerprint(plain)


def _arm(name: str, role: str, qps: float, ndcg: float) -> Any:
    """An arm of a synthetic result: its nDCG@10 (a CI of one point) and query speed."""
    from ragdistill.stages.embedder.ab_result import ArmResult

    return ArmResult(name=name, embedder={}, fingerprint="", collection="", role=role,
                     metrics={"ndcg@10": ndcg}, metric_ci={"ndcg@10": [ndcg, ndcg]},
                     query_throughput_per_s=qps)  # fmt: skip


def test_a_faster_arm_has_a_speedup_above_one_and_is_compared_with_faster_references() -> None:
    """Speed is throughput over the teacher's: an arm encoding 10x the queries per second
    is 10x, and only references at 80% of its speed or more are held against it."""
    from ragdistill.ab.result import Comparison
    from ragdistill.stages.embedder.ab_report import speed_points
    from ragdistill.stages.embedder.ab_result import ABResult
    from ragdistill.stages.embedder.frontier import frontier_rows

    arms = [_arm("teacher", "teacher", 50, 0.8), _arm("student", "candidate", 500, 0.75),
            _arm("slow-ref", "reference", 300, 0.78), _arm("fast-ref", "reference", 450, 0.7)]  # fmt: skip
    comparisons = [Comparison("ndcg@10", "student", ref, d, d - 0.01, d + 0.01, 0.95)
                   for ref, d in (("slow-ref", -0.03), ("fast-ref", 0.05))]  # fmt: skip
    result = ABResult(dataset={}, settings={}, query_ids=[], arms={a.name: a for a in arms},
                      comparisons=comparisons)  # fmt: skip
    rows = {r.name: r for r in frontier_rows(result, "ndcg@10")}
    assert rows["student"].speedup == pytest.approx(10.0)
    assert rows["slow-ref"].speedup == pytest.approx(6.0)
    assert set(rows["student"].against) == {"fast-ref"} and rows["student"].pays
    assert rows["student"].on_frontier and not rows["fast-ref"].on_frontier
    assert rows["student"].fastest_slower is None
    points = {p["name"]: p["speed"] for p in speed_points(result, "ndcg@10")}
    assert points["student"] == pytest.approx(10.0) and points["teacher"] == pytest.approx(1.0)


def test_an_arm_faster_than_every_reference_is_set_beside_the_fastest() -> None:
    """No reference is as fast, so the bar is not met; the row still says how it fares
    against the fastest reference, which is what a user at that speed would weigh."""
    from ragdistill.ab.result import Comparison
    from ragdistill.stages.embedder.ab_result import ABResult
    from ragdistill.stages.embedder.frontier import frontier_rows, verdict

    arms = [_arm("teacher", "teacher", 50, 0.8), _arm("rocket", "candidate", 2000, 0.7),
            _arm("slow-ref", "reference", 300, 0.78), _arm("fast-ref", "reference", 1500, 0.6)]  # fmt: skip
    comparisons = [Comparison("ndcg@10", "rocket", ref, d, lo, d + 0.02, 0.95)
                   for ref, d, lo in (("slow-ref", -0.08, -0.1), ("fast-ref", 0.1, 0.06))]  # fmt: skip
    result = ABResult(dataset={}, settings={}, query_ids=[], arms={a.name: a for a in arms},
                      comparisons=comparisons)  # fmt: skip
    row = {r.name: r for r in frontier_rows(result, "ndcg@10")}["rocket"]
    assert row.against == {} and row.pays is None  # 1500 is under 80% of 2000
    assert row.fastest_slower == ("fast-ref", pytest.approx(30.0), (0.1, 0.06, pytest.approx(0.12)))
    assert verdict(row) == (
        "no reference this fast; the fastest, at 30.0x: beats fast-ref (+0.100 [+0.060, +0.120])"
    )


def test_training_notes_say_when_a_candidate_is_its_start() -> None:
    """A candidate whose start was kept is the model it started from; the report says so
    beside it, and says when a candidate was still improving at its step cap."""
    from ragdistill.distill.selection import training_note
    from ragdistill.stages.embedder.ab_report import _frontier_table
    from ragdistill.stages.embedder.ab_result import ABResult

    kept = {"train/best_step": 0, "train/steps": 90, "train/stopped_early": True}
    assert training_note(kept).startswith("best step 0 of 90: no trained weights beat the start")
    rising = {"train/best_step": 252, "train/steps": 252, "train/still_rising": True}
    assert training_note(rising) == "best step 252 of 252, still rising"
    # Older manifests lack still_rising: a best at the last step, not stopped early, rose.
    assert training_note({"train/best_step": 60, "train/steps": 60}).endswith("still rising")
    assert training_note({"train/best_step": 30, "train/steps": 60}) == "best step 30 of 60"
    assert training_note({"train/steps": 60}) == ""  # no metric_for_best: nothing chosen

    arms = [_arm("teacher", "teacher", 50, 0.8), _arm("kept", "candidate", 100, 0.7)]
    result = ABResult(dataset={}, settings={"training": {"kept": training_note(kept)}},
                      query_ids=[], arms={a.name: a for a in arms}, comparisons=[])  # fmt: skip
    page = _frontier_table(result, "ndcg@10")
    assert "<th>training</th>" in page and "so this is the start" in page
    result.settings = {}
    assert "<th>training</th>" not in _frontier_table(result, "ndcg@10")
