"""The ``onnx`` runtime (issue #17 item 3): tiny real models exported, quantized, cached
beside the artifact under a checksummed sidecar, and loaded by ``ragdistill ab``."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ragdistill.artifacts import verify_artifact, write_manifest
from ragdistill.cli import build_cli
from ragdistill.errors import ConfigError
from ragdistill.loading import load_component, resolve_runtime
from ragdistill.runtimes.onnx import OnnxRuntime
from ragdistill.runtimes.onnx.export import SIDECAR, export_folder
from tests.core.tiny_beir import write_tiny_beir

pytest.importorskip("onnxruntime")
pytest.importorskip("sentence_transformers")

TEXTS = [
    "the capital of france is paris",
    "a dog",
    "water is wet and the sea is deep " * 6,
    "what is the best way to learn music",
]
PAIRS = [("what is water", "water is wet and deep " * 4), ("a query", "the capital of france")]


def artifact_of(model: Path, target: Path, stage: str, loader: str) -> Path:
    """A tiny model copied into an artifact folder with a manifest, as a distillation writes."""
    shutil.copytree(model, target, ignore=shutil.ignore_patterns(".ragdistill-tiny*", "*.lock"))
    write_manifest(target, stage=stage, loader=loader)  # type: ignore[arg-type]
    return target


@pytest.fixture
def student(tiny_st_path: Path, tmp_path: Path) -> Path:
    return artifact_of(tiny_st_path, tmp_path / "student", "embedder", "sentence-transformers")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(
        (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)), dtype=np.float64
    )


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_fp32_export_matches_torch_and_leaves_the_artifact_verified(student: Path) -> None:
    torch_vectors = load_component(student, "embedder").embed_many(TEXTS)
    onnx = load_component(student, "embedder", runtime="onnx")
    vectors = onnx.embed_many(TEXTS)
    assert cosines(vectors, torch_vectors).min() >= 0.9999
    # Another batch shape than the trace's: the batch and sequence axes are dynamic.
    assert cosines(onnx.embed_many(TEXTS[:1]), torch_vectors[:1]).min() >= 0.9999
    assert onnx.describe()["runtime"]["backend"] == "onnx"
    # The export sits beside the artifact, whose manifest still verifies unchanged.
    folder = export_folder(student)
    assert folder == student.with_name("student.onnx")
    assert sorted(p.name for p in folder.iterdir()) == ["model.onnx", SIDECAR]
    verify_artifact(student)


def test_int8_export_is_close_and_cached(student: Path) -> None:
    torch_vectors = load_component(student, "embedder").embed_many(TEXTS)
    first = load_component(
        student, "embedder", runtime="onnx", runtime_options={"quantize": "int8"}
    )
    assert cosines(first.embed_many(TEXTS), torch_vectors).min() >= 0.999
    folder = export_folder(student)
    before = mtimes(folder)
    assert {"model.onnx", "model_qint8.onnx"} <= set(before)
    sidecar = json.loads((folder / SIDECAR).read_text())
    assert set(sidecar["files"]) == {"model.onnx", "model_qint8.onnx"}

    again = load_component(
        student, "embedder", runtime="onnx", runtime_options={"quantize": "int8"}
    )
    assert mtimes(folder) == before  # nothing re-exported
    np.testing.assert_array_equal(again.embed_many(TEXTS), first.embed_many(TEXTS))
    # fp32 and int8 are different components: an index of one is not the other's.
    fp32 = load_component(student, "embedder", runtime="onnx")
    assert fp32.describe() != again.describe()


def test_a_tampered_export_is_detected_and_re_exported(
    student: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = OnnxRuntime(quantize="int8")
    good = runtime.load(student, "embedder").embed_many(TEXTS)  # type: ignore[attr-defined]
    file = export_folder(student) / "model_qint8.onnx"
    data = bytearray(file.read_bytes())
    data[-64:] = bytes(64)  # damage the last weights, same size
    file.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="ragdistill.runtimes.onnx.export"):
        healed = runtime.load(student, "embedder").embed_many(TEXTS)  # type: ignore[attr-defined]
    assert "does not match its checksum" in caplog.text
    np.testing.assert_allclose(healed, good, atol=1e-6)

    # A file the sidecar does not list is not trusted either.
    (export_folder(student) / "extra.onnx").write_bytes(b"not a model")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ragdistill.runtimes.onnx.export"):
        runtime.load(student, "embedder")
    assert "is not listed" in caplog.text
    assert not (export_folder(student) / "extra.onnx").exists()


def test_a_changed_artifact_is_exported_again(student: Path) -> None:
    load_component(student, "embedder", runtime="onnx")
    folder = export_folder(student)
    before = mtimes(folder)
    (student / "notes.txt").write_text("retrained")  # a new manifest: another source
    write_manifest(student, stage="embedder", loader="sentence-transformers")
    load_component(student, "embedder", runtime="onnx")
    assert mtimes(folder)["model.onnx"] != before["model.onnx"]


def test_cross_encoder_scores_match_torch(tiny_cross_encoder_path: Path, tmp_path: Path) -> None:
    reranker = artifact_of(tiny_cross_encoder_path, tmp_path / "ce", "reranker", "cross-encoder")
    expected = load_component(reranker, "reranker").score_pairs(PAIRS)
    got = load_component(reranker, "reranker", runtime="onnx").score_pairs(PAIRS)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    int8 = load_component(
        reranker, "reranker", runtime="onnx", runtime_options={"quantize": "int8"}
    )
    np.testing.assert_allclose(int8.score_pairs(PAIRS), expected, atol=1e-2)


def test_other_loaders_are_refused_naming_what_is_supported(
    tiny_st_path: Path, tmp_path: Path
) -> None:
    other = artifact_of(tiny_st_path, tmp_path / "enc", "embedder", "hf-encoder")
    with pytest.raises(ConfigError, match="sentence-transformers embedders and cross-encoder"):
        load_component(other, "embedder", runtime="onnx")
    assert not export_folder(other).exists()


def test_options_are_validated() -> None:
    runtime = resolve_runtime("onnx", {"quantize": "int8", "threads": 1, "provider": "cpu"})
    assert isinstance(runtime, OnnxRuntime) and runtime.quantize == "int8"
    assert runtime.training_device() == "cpu"  # students train with torch
    for bad in ({"quantize": "int4"}, {"threads": 0}, {"provider": "tpu"},
                {"provider": "cpu", "device": "cpu"}):  # fmt: skip
        with pytest.raises(ConfigError):
            resolve_runtime("onnx", bad)
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(ConfigError, match="CUDAExecutionProvider"):
            OnnxRuntime(provider="cuda").providers()


def test_ab_embedder_loads_the_student_through_onnx_int8(
    tiny_st_path: Path, student: Path, tmp_path: Path
) -> None:
    pytest.importorskip("chromadb")
    data = write_tiny_beir(tmp_path / "beir", docs=20, queries=6, judged=6)
    args = [
        "ab", "embedder", "--teacher", f"sentence-transformers:{tiny_st_path}",
        "--student", str(student), "--dataset", "beir", "--data-path", str(data),
        "--index-dir", str(tmp_path / "chroma"), "--out", str(tmp_path / "out"), "-k", "5",
        "--n-bootstrap", "20", "-q", "--runtime", "onnx", "--runtime-option", "quantize=int8",
    ]  # fmt: skip
    result = CliRunner().invoke(build_cli(), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (export_folder(student) / "model_qint8.onnx").is_file()
    assert not export_folder(tiny_st_path).exists()  # the KIND:MODEL teacher ran on torch
    ab = json.loads((tmp_path / "out" / "ab.json").read_text())
    assert set(ab["arms"]) == {"teacher", "student"}
    assert np.isfinite(ab["arms"]["student"]["metrics"]["ndcg@5"])
    assert '"quantize": "int8"' in json.dumps(ab["arms"]["student"])


def test_a_recipe_runtime_table_loads_the_ab_arms_on_onnx(
    tiny_st_path: Path, tmp_path: Path
) -> None:
    pytest.importorskip("chromadb")
    from ragdistill.recipes import load_recipe
    from ragdistill.stages.embedder.evaluate import ab_for_recipe
    from tests.core.tiny_beir import tiny_recipe

    path = tiny_recipe(tmp_path, tiny_st_path, tiny_st_path, write_tiny_beir(tmp_path / "beir"))
    text = path.read_text().replace(
        'device = "cpu"\nthreads = 1', 'backend = "onnx"\nquantize = "int8"\nthreads = 1'
    )
    path.write_text(text.replace("k = 20", "k = 10\nmax_queries = 4"))
    recipe = load_recipe(path)
    student = artifact_of(
        tiny_st_path, Path(recipe.output) / "student", "embedder", "sentence-transformers"
    )
    report = ab_for_recipe(recipe, student, show_progress=False)
    assert (export_folder(student) / "model_qint8.onnx").is_file()
    ab = json.loads((report.parent / "ab.json").read_text())
    assert '"quantize": "int8"' in json.dumps(ab["arms"]["student"])
