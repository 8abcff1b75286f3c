"""The reranker's dev split: training queries held out to evaluate on during training.

The evaluated (test) queries never choose the checkpoint: evaluation during training
reranks the dev queries' candidates and scores the student against the teacher's order
(no judgements); a run stopped mid-way resumes to the same log and the same best step.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ragdistill.artifacts import read_manifest
from ragdistill.callbacks import TrainingCallback
from ragdistill.datasets import Document, RetrievalDataset
from ragdistill.distill.dev_split import DEV_MIN
from ragdistill.hookspecs import hookimpl
from ragdistill.stages.reranker.evaluate import DEV_METRICS
from ragdistill.stages.reranker.mining import split_queries, training_queries
from tests.core.tiny_beir import write_tiny_beir
from tests.rerank.conftest import write_recipe

#: Two epochs of 4 steps, evaluated every 2 and checkpointed every 3 (write_recipe).
SELECTION = 'epochs = 2\nmetric_for_best = "dev/ndcg@10"\n'
CRASH_AT = 5  # after the checkpoint of step 3 and the evaluation of step 4


class CrashAt(TrainingCallback):
    """Stops training with an error once step ``CRASH_AT`` is logged, as a kill would."""

    def on_step(self, step: int, record: dict) -> None:
        if step == CRASH_AT:
            raise RuntimeError(f"killed at step {step}")


class CrashPlugin:
    @hookimpl
    def register_callbacks(self, register: object) -> None:
        register("crash-at", CrashAt)  # type: ignore[operator]


def dataset(*, judged: int = 8, unjudged: int = 8) -> RetrievalDataset:
    corpus = {f"d{i}": Document(f"d{i}", f"title {i}", f"text {i}") for i in range(60)}
    queries = {f"q{i}": f"question {i}" for i in range(judged + unjudged)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(judged)}
    return RetrievalDataset(name="t", corpus=corpus, queries=queries, qrels=qrels)


def recipe(root: Path, paths: tuple[Path, Path], output: str, train: str = SELECTION) -> Path:
    st, cross = paths
    path = write_recipe(root, teacher=cross, student=st, first_stage=st, data=root / "beir",
                        out=output)  # fmt: skip
    text = path.read_text().replace("[train]\nepochs = 1\n", "[train]\n" + train)
    dest = root / f"{output}.toml"
    dest.write_text(text)
    return dest


def log_records(output: Path) -> list[dict]:
    return [json.loads(x) for x in (output / "train_log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, tiny_st_path, tiny_cross_encoder_path) -> Path:
    """One unbroken run that keeps its best dev evaluation; its output folder."""
    from ragdistill.distill import run_recipe

    root = tmp_path_factory.mktemp("rerank-dev")
    write_tiny_beir(root / "beir")
    run_recipe(recipe(root, (tiny_st_path, tiny_cross_encoder_path), "out"), show_progress=False)
    return root / "out"


def test_dev_queries_are_training_queries_held_out_never_evaluated_ones():
    ds = dataset()
    train, dev = split_queries(ds, max_queries=None, seed=42, eval_fraction=0.05)
    pool = training_queries(ds, max_queries=None, seed=42)  # eval_fraction 0: all of them
    assert split_queries(ds, max_queries=None, seed=42) == (pool, [])
    assert len(dev) == DEV_MIN and len(train) + len(dev) == len(pool) == 68
    assert not set(dev) & set(train) and set(dev) <= set(pool)
    evaluated = {ds.queries[q] for q in ds.evaluable_query_ids()}
    assert not evaluated & (set(train) | set(dev))
    # Seeded, and drawn before the max_queries sample: max_queries counts training queries.
    assert split_queries(ds, max_queries=None, seed=42, eval_fraction=0.05)[1] == dev
    assert split_queries(ds, max_queries=None, seed=7, eval_fraction=0.05)[1] != dev
    capped, same = split_queries(ds, max_queries=20, seed=42, eval_fraction=0.05)
    assert len(capped) == 20 and same == dev and set(capped) <= set(train)


def test_dev_split_json_says_what_was_held_out(distilled):
    split = json.loads((distilled / "dev_split.json").read_text())
    assert split["eval_fraction"] == 0.05 and split["seed"] == 42
    assert split["dev_queries"] == len(split["queries"]) == DEV_MIN
    assert split["metrics"] == list(DEV_METRICS)
    candidates = json.loads((distilled / "candidates.json").read_text())
    assert candidates["dev_queries"] == split["queries"]
    assert not set(split["queries"]) & set(candidates["train_queries"])  # never trained on
    queries = {json.loads(x)["_id"]: json.loads(x)["text"]
               for x in (distilled.parent / "beir" / "queries.jsonl").read_text().splitlines()}  # fmt: skip
    evaluated = {queries[q] for q in candidates["eval"]}
    assert evaluated and not evaluated & set(split["queries"])
    labelling = json.loads((distilled / "labelling.json").read_text())
    assert labelling["dev_queries"] == DEV_MIN


def test_dev_metrics_are_logged_and_the_best_one_is_kept(distilled):
    records = log_records(distilled)
    evaluated = [r for r in records if any(k.startswith("eval/") for k in r)]
    assert [r["step"] for r in evaluated] == [0, 2, 4, 6, 8]  # 0: the start
    for record in evaluated:
        assert {k for k in record if k.startswith("eval/")} == {f"eval/{m}" for m in DEV_METRICS}
        assert 0 <= record["eval/dev/ndcg@10"] <= 1 and -1 <= record["eval/dev/kendall_tau"] <= 1
    metrics = read_manifest(distilled / "student")["metrics"]
    best = max(evaluated, key=lambda r: r["eval/dev/ndcg@10"])
    assert metrics["train/best_step"] == best["step"]
    assert metrics["train/dev_queries"] == DEV_MIN and "eval/dev/overlap@10" in metrics
    assert not any(k in metrics for k in ("eval/ndcg@10", "eval/teacher_ndcg@10"))


def test_the_evaluator_reads_no_evaluated_query(distilled):
    """Without the evaluated queries (texts, judgements, candidates) it scores the same."""
    from ragdistill.config import build
    from ragdistill.recipes import load_recipe
    from ragdistill.registry import default_registry
    from ragdistill.stages.reranker.evaluate import make_evaluator
    from ragdistill.stages.reranker.setup import prepare

    rec = load_recipe(distilled.parent / "out.toml")
    setup = prepare(rec, show_progress=False)  # candidates.json and the teacher cache: no work
    student = build(default_registry().student("reranker", rec.student.kind),
                    rec.student.options, "student").build()  # fmt: skip
    student.eval()
    before = make_evaluator(student, setup, k=rec.evaluate.k)()
    evaluated = set(setup.dataset.evaluable_query_ids())
    assert evaluated
    setup.dataset.qrels = {}
    setup.dataset.queries = {q: t for q, t in setup.dataset.queries.items() if q not in evaluated}
    setup.candidates.eval = {}
    after = make_evaluator(student, setup, k=rec.evaluate.k)()
    assert after == pytest.approx(before) and set(after) == set(DEV_METRICS)


def test_a_run_stopped_midway_resumes_to_the_same_log_and_best(distilled):
    from ragdistill import plugins, registry
    from ragdistill.distill import run_recipe

    root = distilled.parent
    text = (root / "out.toml").read_text().replace(f'output = "{distilled}"',
                                                   f'output = "{root / "crashed"}"')  # fmt: skip
    pm = plugins.default_plugin_manager()
    plugin = CrashPlugin()
    pm.register(plugin, name="rerank-test-crash")
    registry.reset()
    try:
        (root / "crashed.toml").write_text(
            text.replace("[train]\n", '[train]\ncallbacks = ["crash-at"]\n')
        )
        with pytest.raises(RuntimeError, match="killed at step 5"):
            run_recipe(root / "crashed.toml", show_progress=False)
    finally:
        pm.unregister(plugin)
        registry.reset()
    crashed = root / "crashed"
    assert not (crashed / "student").exists()
    (root / "crashed.toml").write_text(text)  # callbacks are not part of the fingerprint
    run_recipe(root / "crashed.toml", show_progress=False)
    labelling = json.loads((crashed / "labelling.json").read_text())
    assert labelling["pairs"]["computed"] == 0  # the shared teacher cache held every pair
    assert (crashed / "dev_split.json").read_text() == (distilled / "dev_split.json").read_text()
    resumed, unbroken = log_records(crashed), log_records(distilled)
    assert [r["step"] for r in resumed] == [r["step"] for r in unbroken] == list(range(9))
    for a, b in zip(resumed, unbroken):
        assert a.keys() == b.keys()
        assert [a[k] for k in sorted(a)] == pytest.approx([b[k] for k in sorted(b)], rel=1e-4)
    metrics = {k: read_manifest(out / "student")["metrics"] for k, out in
               (("resumed", crashed), ("unbroken", distilled))}  # fmt: skip
    for key in ("train/best_step", "train/best_metric", "eval/dev/ndcg@10"):
        assert metrics["resumed"][key] == pytest.approx(metrics["unbroken"][key]), key


def test_without_a_dev_split_nothing_is_evaluated_and_check_refuses_a_dev_metric(
    tmp_path, tiny_st_path, tiny_cross_encoder_path
):
    from ragdistill.cli import build_cli

    write_tiny_beir(tmp_path / "beir")
    paths = (tiny_st_path, tiny_cross_encoder_path)
    runner, cli = CliRunner(), build_cli()
    refused = recipe(tmp_path, paths, "refused", SELECTION + "eval_fraction = 0\n")
    result = runner.invoke(cli, ["distill", str(refused), "--check"])
    assert result.exit_code == 1
    assert "metric_for_best = 'dev/ndcg@10' needs a dev split" in result.output
    assert "train.eval_fraction above 0" in result.output
    # The metric the reranker reported before its dev split is refused by name.
    old = recipe(tmp_path, paths, "old", SELECTION.replace("dev/ndcg@10", "ndcg@10"))
    result = runner.invoke(cli, ["distill", str(old), "--check"])
    assert result.exit_code == 1 and "name one of them" in result.output
    assert "'dev/ndcg@10', 'dev/kendall_tau' and 'dev/overlap@10'" in result.output
    plain = recipe(tmp_path, paths, "plain", "epochs = 1\neval_fraction = 0\n")
    done = runner.invoke(cli, ["distill", str(plain), "-q", "--no-ab"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert not (tmp_path / "plain" / "dev_split.json").exists()
    assert not any(k.startswith("eval/") for r in log_records(tmp_path / "plain") for k in r)
    candidates = json.loads((tmp_path / "plain" / "candidates.json").read_text())
    assert candidates["dev_queries"] == [] and len(candidates["train_queries"]) == 16
