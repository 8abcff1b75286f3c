"""The folder the documentation's snippets run in: every ``runs/...`` artifact they name,
built from tiny random-weight models with real manifests, and a ``pipeline.toml``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

# Greedy, short decoding: the snippets are run to see that they work, not for their text.
QUERY_OPTIONS = {"num_beams": 1, "max_new_tokens": 6}
GENERATOR_OPTIONS = {"max_new_tokens": 8}

#: Artifact paths the snippets load -> (stage, tiny model, loader, load options).
ARTIFACTS: dict[str, tuple[str, str, str, dict[str, object]]] = {
    "runs/quickstart/student": ("embedder", "st", "sentence-transformers", {}),
    "runs/minilm/student": ("embedder", "st", "sentence-transformers", {}),
    "runs/ce/student": ("reranker", "ce", "cross-encoder", {}),
    "runs/t5/student": ("query_transformer", "t5", "hf-seq2seq", QUERY_OPTIONS),
    "runs/hyde/student": ("query_transformer", "lm", "hf-llm", {"task": "hyde", "max_new_tokens": 8}),
    "runs/generator-quickstart/student": ("generator", "lm", "hf-causal-lm", GENERATOR_OPTIONS),
}  # fmt: skip
#: Packaged model names the snippets use -> the tiny model that stands in for them.
MODEL_NAMES = {
    "SmolLM2-135M-Instruct": "lm",
    "Qwen2.5-Coder-0.5B-Instruct": "lm",
    "all-MiniLM-L6-v2": "st",
    "all-mpnet-base-v2": "st",
}

PIPELINE_TOML = """\
name = "doc-snippets"
k = 4
contexts = 2
max_new_tokens = 6
control = "teacher"
treatment = "distilled"

[arms.teacher.query_transformer]
artifact = "{t5}"
num_beams = 1
max_new_tokens = 6
[arms.teacher.embedder]
artifact = "{st}"
[arms.teacher.reranker]
artifact = "{ce}"
[arms.teacher.generator]
artifact = "{lm}"

[arms.distilled.embedder]
artifact = "{runs}/minilm/student"
[arms.distilled.generator]
artifact = "{runs}/generator-quickstart/student"
"""


@pytest.fixture(scope="session")
def tiny_models(
    tiny_st_path: Path, tiny_cross_encoder_path: Path, tiny_seq2seq_path: Path,
    tiny_causal_lm_path: Path,
) -> dict[str, Path]:  # fmt: skip
    return {"st": tiny_st_path, "ce": tiny_cross_encoder_path, "t5": tiny_seq2seq_path,
            "lm": tiny_causal_lm_path}  # fmt: skip


@pytest.fixture(scope="session")
def artifact_runs(tmp_path_factory: pytest.TempPathFactory, tiny_models: dict[str, Path]) -> Path:
    """``runs/``: each artifact of :data:`ARTIFACTS`, a tiny model with its manifest."""
    from ragdistill.artifacts import write_manifest

    runs = tmp_path_factory.mktemp("doc-artifacts") / "runs"
    for rel, (stage, model, loader, options) in ARTIFACTS.items():
        target = runs.parent / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(
            tiny_models[model], target, ignore=shutil.ignore_patterns(".ragdistill-tiny*")
        )
        write_manifest(
            target,
            stage=stage,
            loader=loader,
            load_options=options,
            teacher={"name": "doc-teacher"},
            student={"name": f"tiny {model} ({rel})"},
        )
    return runs


@pytest.fixture
def snippet_dir(tmp_path: Path, artifact_runs: Path, tiny_models: dict[str, Path]) -> Path:
    """A fresh folder holding ``runs/`` and ``pipeline.toml``, for one file's snippets."""
    work = tmp_path / "work"
    shutil.copytree(artifact_runs, work / "runs")
    paths = {k: v.as_posix() for k, v in tiny_models.items()}
    (work / "pipeline.toml").write_text(
        PIPELINE_TOML.format(runs=(work / "runs").as_posix(), **paths)
    )
    return work


@pytest.fixture
def model_names(tiny_models: dict[str, Path]) -> dict[str, str]:
    return {name: str(tiny_models[kind]) for name, kind in MODEL_NAMES.items()}
