"""The teacher cache key names the code that computed the outputs (#18 defect 9).

A plugin release or a bumped ``cache_version`` gets a fresh cache; a built-in component
that declares no ``cache_version`` keeps the key (and so the caches) it always had.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from ragdistill import provenance
from ragdistill.contracts import Embedder
from ragdistill.stages.embedder.components import SentenceTransformerEmbedder
from ragdistill.teacher_cache import fingerprint

TEACHER = """
from typing import ClassVar

import numpy as np
from ragdistill.contracts import Embedder
from ragdistill.hookspecs import hookimpl


class Counts(Embedder):
    def __init__(self, scale: float = 1.0, batch_size: int = 32) -> None:
        self.scale = scale
        self.batch_size = batch_size

    def embed_batch(self, texts, *, input_type="document"):
        return np.array([[len(t) * self.scale, 1.0] for t in texts], dtype=np.float32)


class Versioned(Counts):
    cache_version: ClassVar[str] = "3"


@hookimpl
def register_teachers(register):
    register("counts", Counts)
    register("versioned", Versioned)
"""


class Site:
    """A folder on ``sys.path`` holding one version of the ``rd-counts`` distribution."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        root.mkdir()
        monkeypatch.syspath_prepend(str(root))
        (root / "rd_counts.py").write_text(TEACHER)

    def install(self, version: str) -> None:
        for old in self.root.glob("*.dist-info"):
            shutil.rmtree(old)
        info = self.root / f"rd_counts-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: rd-counts\nVersion: {version}\n"
        )
        (info / "entry_points.txt").write_text("[ragdistill]\ncounts = rd_counts\n")
        provenance.forget()  # as building a plugin manager does


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    yield Site(tmp_path / "site", monkeypatch)
    sys.modules.pop("rd_counts", None)
    provenance.forget()


def test_a_builtin_teacher_keeps_the_key_it_always_had() -> None:
    teacher = SentenceTransformerEmbedder.from_options({"model": "all-MiniLM-L6-v2"})
    description = teacher.describe()
    assert "distribution" not in description and "cache_version" not in description
    # The key as ragdistill computed it before plugin versions were part of it.
    old = {
        "class": "ragdistill.stages.embedder.components.SentenceTransformerEmbedder",
        "stage": "embedder",
        "options": {"model": "all-MiniLM-L6-v2"},
        "model": "all-MiniLM-L6-v2",
    }
    blob = json.dumps(old, sort_keys=True, default=str).encode()
    assert fingerprint(description) == hashlib.sha256(blob).hexdigest()[:24]


def test_a_plugin_upgrade_changes_the_key(site: Site) -> None:
    site.install("1.0.0")
    import rd_counts

    teacher = rd_counts.Counts.from_options({"scale": 2.0, "batch_size": 8})
    assert teacher.describe()["distribution"] == {"name": "rd-counts", "version": "1.0.0"}
    before = fingerprint(teacher.describe())
    assert fingerprint(rd_counts.Counts.from_options({"scale": 2.0}).describe()) == before
    site.install("1.1.0")
    after = fingerprint(teacher.describe())
    assert after != before  # the new release's outputs are not the old cache's


def test_a_declared_cache_version_is_the_key_instead_of_the_release(site: Site) -> None:
    site.install("1.0.0")
    import rd_counts

    description = rd_counts.Versioned.from_options({}).describe()
    assert description["cache_version"] == "3" and "distribution" not in description
    before = fingerprint(description)
    site.install("1.0.1")  # a release that does not change outputs keeps the cache
    assert fingerprint(rd_counts.Versioned.from_options({}).describe()) == before


def test_bumping_cache_version_of_a_builtin_changes_its_key() -> None:
    class Bumped(SentenceTransformerEmbedder):
        cache_version: ClassVar[str | None] = "2"

    plain = SentenceTransformerEmbedder.from_options({"model": "m"}).describe()
    bumped = Bumped.from_options({"model": "m"}).describe()
    assert bumped["cache_version"] == "2"
    assert fingerprint({**bumped, "class": plain["class"]}) != fingerprint(plain)


def test_cached_embedder_keeps_one_cache_per_plugin_release(site: Site, tmp_path: Path) -> None:
    from ragdistill.distill.cached_teacher import CachedEmbedder

    site.install("1.0.0")
    import rd_counts

    first = CachedEmbedder(rd_counts.Counts.from_options({}), root=tmp_path / "cache")
    first.fill(["a", "bb"], "document", show_progress=False)
    site.install("2.0.0")
    second = CachedEmbedder(rd_counts.Counts.from_options({}), root=tmp_path / "cache")
    assert second.cache.folder != first.cache.folder
    assert second.fill(["a", "bb"], "document", show_progress=False).computed == 2


def test_a_class_of_no_distribution_adds_nothing() -> None:
    class Local(Embedder):
        def embed_batch(self, texts: list[str], *, input_type: Any = "document") -> Any:
            return np.zeros((len(texts), 2), dtype=np.float32)

    assert set(Local().describe()) == {"class", "stage", "options"}


def test_the_teacher_cache_folder_comes_from_the_most_specific_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ragdistill.teacher_cache import TeacherCache, default_cache_root

    monkeypatch.setenv("RAGDISTILL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RAGDISTILL_TEACHER_CACHE", str(tmp_path / "big-disk"))
    assert default_cache_root() == tmp_path / "big-disk"
    cache = TeacherCache.open("t" * 24, dim=4, description={"class": "x"})
    assert (tmp_path / "big-disk" / ("t" * 24)).is_dir() and cache is not None
    monkeypatch.delenv("RAGDISTILL_TEACHER_CACHE")
    assert default_cache_root() == tmp_path / "home" / "teacher-cache"
