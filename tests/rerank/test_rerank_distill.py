"""Reranker distillation end to end on tiny models: mine -> label -> train -> A/B.

One run per student kind, each loading back in the plain library and through
``load_component``; a rerun reuses every cached teacher score and the checkpoints.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ragdistill.artifacts import read_manifest
from ragdistill.loading import load_component
from tests.rerank.conftest import write_recipe

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rerank_distilled.py"
DOCS = ["a fee refund rule", "mobile app password", "wire transfer limit"]


def _check_example(artifact):
    """examples/rerank_distilled.py reranks with the artifact in LlamaIndex and LangChain."""
    pytest.importorskip("llama_index_ragdistill")
    pytest.importorskip("langchain_ragdistill")
    spec = importlib.util.spec_from_file_location("rerank_distilled", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = example.main([str(artifact), "--top-n", "2"])
    assert [t for t, _ in out["LlamaIndex"]] == [t for t, _ in out["LangChain"]]
    assert len(out["LangChain"]) == 2
    np.testing.assert_allclose([s for _, s in out["LlamaIndex"]], [s for _, s in out["LangChain"]])


def _check_ab(output, artifact):
    data = json.loads((output / "ab" / "ab.json").read_text())
    assert set(data["arms"]) == {"teacher", "student", "baseline", "first_stage"}
    assert set(data["arms"]["student"]["latency"]) == {"5", "10"}
    tau = data["arms"]["student"]["agreement"]["kendall_tau"]["mean"]
    assert -1.0 <= tau <= 1.0
    assert {"ndcg@10", "mrr@10"} <= set(data["arms"]["first_stage"]["metrics"])
    html = (output / "ab" / "report.html").read_text()
    assert "<img" in html and "Scoring latency" in html
    metrics = read_manifest(artifact)["metrics"]
    assert "ab/ndcg@10" in metrics and "ab/speedup@10" in metrics


@pytest.mark.parametrize(
    ("student_kind", "teacher_kind", "extra", "in_batch"),
    [
        ("cross-encoder", "cross-encoder", "max_length = 64", 2),
        ("bi-encoder", "bi-encoder", "scale = 5.0", 0),
        ("colbert", "ensemble", "dim = 16\nmax_doc_length = 64", 1),
    ],
)
def test_distill_each_student_then_ab(
    tmp_path, beir_dir, tiny_st_path, tiny_cross_encoder_path, student_kind, teacher_kind,
    extra, in_batch,
):  # fmt: skip
    from ragdistill.distill import run_recipe
    from ragdistill.recipes import load_recipe
    from ragdistill.stages.reranker.evaluate import ab_for_reranker_recipe

    teacher = tiny_cross_encoder_path if teacher_kind == "cross-encoder" else tiny_st_path
    path = write_recipe(
        tmp_path, teacher=teacher, student=tiny_st_path, first_stage=tiny_st_path,
        data=beir_dir, teacher_kind=teacher_kind, student_kind=student_kind,
        student_extra=extra, in_batch=in_batch,
    )  # fmt: skip
    if teacher_kind == "ensemble":  # a cross-encoder and a bi-encoder, z-scored per query
        text = path.read_text().replace(
            f'model = "{tiny_st_path}"\nbatch_size = 8',
            f'members = [{{kind = "cross-encoder", model = "{tiny_cross_encoder_path}"}}, '
            f'{{kind = "bi-encoder", model = "{tiny_st_path}"}}]\nweights = [1.0, 0.5]',
            1,
        )
        path.write_text(text)
    recipe = load_recipe(path)
    artifact = run_recipe(recipe, show_progress=False)
    output = tmp_path / "out"
    manifest = read_manifest(artifact)
    assert manifest["stage"] == "reranker" and manifest["loader"] == student_kind
    assert manifest["metrics"]["train/candidates_per_query"] == 4 + in_batch
    labelling = json.loads((output / "labelling.json").read_text())
    assert labelling["examples"] > 0 and labelling["pairs"]["computed"] > 0
    # Cosine-scoring students start with their score spread matched to the teacher's.
    assert ("student_scale" in labelling) == (student_kind != "cross-encoder")
    component = load_component(artifact, "reranker")
    scores = component.score("fee refund", DOCS)
    assert scores.shape == (3,) and np.isfinite(scores).all()
    if student_kind == "cross-encoder":
        from sentence_transformers import CrossEncoder

        plain = CrossEncoder(str(artifact), device="cpu")
        assert plain.predict([("fee refund", d) for d in DOCS]).shape == (3,)
        _check_example(artifact)
    if student_kind == "bi-encoder":
        from sentence_transformers import SentenceTransformer

        assert SentenceTransformer(str(artifact)).encode(DOCS).shape[0] == 3
    ab_for_reranker_recipe(recipe, artifact, show_progress=False)
    _check_ab(output, artifact)


def test_rerun_reuses_every_teacher_score_and_resumes(
    tmp_path, beir_dir, tiny_st_path, tiny_cross_encoder_path
):
    from ragdistill.cli import build_cli

    path = write_recipe(
        tmp_path, teacher=tiny_cross_encoder_path, student=tiny_st_path,
        first_stage=tiny_st_path, data=beir_dir, in_batch=1,
    )  # fmt: skip
    runner, cli = CliRunner(), build_cli()
    first = runner.invoke(cli, ["distill", str(path), "-q", "--no-ab"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    output = tmp_path / "out"
    steps = [json.loads(x)["step"] for x in (output / "train_log.jsonl").read_text().splitlines()]
    # A second run, in a new output folder sharing the teacher cache: no teacher work at all.
    moved = path.read_text().replace(f'output = "{output}"', f'output = "{tmp_path / "out2"}"')
    path.write_text(moved)
    second = runner.invoke(cli, ["distill", str(path), "-q"], catch_exceptions=False)
    assert second.exit_code == 0, second.output
    labelling = json.loads((tmp_path / "out2" / "labelling.json").read_text())
    assert labelling["pairs"]["computed"] == 0 and labelling["in_batch"]["computed"] == 0
    assert "A/B report" in second.output and (tmp_path / "out2" / "ab" / "ab.json").is_file()
    # The first folder again: finished, so its artifact is reused and no step trains twice.
    path.write_text(moved.replace(f'output = "{tmp_path / "out2"}"', f'output = "{output}"'))
    trained = json.loads((output / "student" / "ragdistill.json").read_text())["metrics"]
    third = runner.invoke(cli, ["distill", str(path), "--no-ab"], catch_exceptions=False)
    assert third.exit_code == 0 and "already distilled" in third.output
    assert "resuming from checkpoint" not in third.output
    again = [json.loads(x)["step"] for x in (output / "train_log.jsonl").read_text().splitlines()]
    assert again == steps == list(range(len(steps)))  # from 0: the start's evaluation
    # The training time of the run that trained survives a resume that trains nothing.
    resumed = json.loads((output / "student" / "ragdistill.json").read_text())["metrics"]
    assert resumed["train/seconds"] >= trained["train/seconds"] > 0
