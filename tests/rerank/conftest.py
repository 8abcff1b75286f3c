"""Fixtures for the reranker distillation tests: a tiny BEIR set and reranker recipes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.tiny_beir import write_tiny_beir

RECIPE = """
stage = "reranker"
name = "tiny-rerank-{student_kind}"
output = "{out}"
cache_dir = "{cache}"

[teacher]
kind = "{teacher_kind}"
model = "{teacher}"
batch_size = 8

[student]
kind = "{student_kind}"
model = "{student}"
keep_layers = [0]
{student_extra}

[data]
dataset = "beir"
path = "{data}"
unjudged_queries = true

[reranker.candidates]
k = 12
window = [2, 12]
negatives = 3
in_batch_negatives = {in_batch}

[reranker.candidates.embedder]
kind = "sentence-transformers"
model = "{first_stage}"

[[losses]]
name = "margin-mse"

[[losses]]
name = "listwise-kl"
weight = 0.5

[train]
epochs = 1
batch_size = 4
learning_rate = 1e-3
max_texts = 16
eval_every = 2
checkpoint_every = 3

[runtime]
device = "cpu"
threads = 1

[evaluate]
k = 10
bootstrap = 100
latency_candidates = [5, 10]
latency_queries = 3
"""


@pytest.fixture
def beir_dir(tmp_path: Path) -> Path:
    return write_tiny_beir(tmp_path / "beir")


def write_recipe(
    tmp_path: Path,
    *,
    teacher: Path,
    student: Path,
    first_stage: Path,
    data: Path,
    teacher_kind: str = "cross-encoder",
    student_kind: str = "cross-encoder",
    student_extra: str = "",
    in_batch: int = 0,
    out: str = "out",
) -> Path:
    path = tmp_path / f"recipe-{student_kind}.toml"
    path.write_text(
        RECIPE.format(
            out=tmp_path / out,
            cache=tmp_path / "cache",
            teacher=teacher,
            teacher_kind=teacher_kind,
            student=student,
            student_kind=student_kind,
            student_extra=student_extra,
            data=data,
            first_stage=first_stage,
            in_batch=in_batch,
        )
    )
    return path


@pytest.fixture
def fake_rerankers():
    """The fake rerankers of ``rerank_fakes`` registered as a plugin, for this test only."""
    from ragdistill import plugins, registry
    from tests.rerank.rerank_fakes import CountingReranker, FakesPlugin

    pm = plugins.default_plugin_manager()
    plugin = FakesPlugin()
    pm.register(plugin, name="rerank-test-fakes")
    registry.reset()
    CountingReranker.scored.clear()
    try:
        yield
    finally:
        pm.unregister(plugin)
        registry.reset()
