"""The cache: records, the fast check, atomic installs, locking, removal."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from ragdistill import models
from ragdistill.errors import ChecksumError
from ragdistill.models import cache


def test_cache_root_follows_ragdistill_home(home: Path) -> None:
    assert cache.cache_root() == home / "models"
    assert cache.downloads_dir() == home / "downloads"


def test_cache_root_defaults_to_user_cache_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv("RAGDISTILL_HOME", raising=False)
    assert cache.cache_root() == Path(platformdirs.user_cache_dir("ragdistill")) / "models"


def test_safe_names_are_distinct_folder_names() -> None:
    assert cache.safe_name("org/name") == "org--name"
    assert cache.safe_name("all-MiniLM-L6-v2") == "all-MiniLM-L6-v2"
    odd = [cache.safe_name(n) for n in ("a b", "a:b", "a?b", "../x", ".hidden", "org--name")]
    assert cache.safe_name("org--name") != cache.safe_name("org/name")
    assert len(set(odd)) == len(odd)
    assert all("/" not in s and not s.startswith(".") for s in odd)


def test_install_writes_a_record_with_hashes_and_stamps(tiny_model, home: Path) -> None:
    folder = tiny_model("tiny")
    assert folder == home / "models" / "tiny"
    record = json.loads((folder / cache.RECORD).read_text())
    assert record["name"] == "tiny" and record["source"] == "test"
    assert record["meta"] == {"kind": "test"}
    assert set(record["files"]) == {"config.json", "weights.bin", "sub/vocab.txt"}
    info = record["files"]["weights.bin"]
    assert info["size"] == 256 * 64
    assert info["sha256"] == cache.file_digest(folder / "weights.bin")
    assert info["mtime_ns"] == (folder / "weights.bin").stat().st_mtime_ns
    assert not list((home / "models" / ".tmp").iterdir())


def test_fast_check_refuses_a_damaged_file_with_the_fix(tiny_model) -> None:
    folder = tiny_model("tiny")
    weights = folder / "weights.bin"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF  # same size, different bytes: only the hash can tell
    weights.write_bytes(bytes(data))
    with pytest.raises(ChecksumError) as err:
        models.resolve_model("tiny")
    message = str(err.value)
    assert "weights.bin" in message
    assert "ragdistill models rm tiny && ragdistill models pull tiny" in message


def test_fast_check_catches_a_truncated_or_missing_file(tiny_model) -> None:
    folder = tiny_model("tiny")
    (folder / "sub" / "vocab.txt").write_text("a\n")
    with pytest.raises(ChecksumError, match=r"vocab\.txt"):
        cache.check(folder)
    (folder / "sub" / "vocab.txt").unlink()
    with pytest.raises(ChecksumError, match=r"missing sub/vocab\.txt"):
        cache.check(folder)


def test_fast_check_rehashes_only_changed_stamps(tiny_model, monkeypatch) -> None:
    folder = tiny_model("tiny")
    hashed: list[str] = []
    real = cache.file_digest
    monkeypatch.setattr(cache, "file_digest", lambda p: hashed.append(p.name) or real(p))
    cache.check(folder)
    assert hashed == []  # nothing changed since install
    weights = folder / "weights.bin"
    os.utime(weights, ns=(time.time_ns(), time.time_ns() + 10**9))  # touched, same bytes
    cache.check(folder)
    assert hashed == ["weights.bin"]
    cache.check(folder)  # the refreshed stamp was saved
    assert hashed == ["weights.bin"]
    cache.check(folder, full=True)
    assert sorted(hashed) == sorted(["weights.bin", "weights.bin", "config.json", "vocab.txt"])


def test_a_failed_pull_leaves_no_half_model(home: Path) -> None:
    def fill(dest: Path) -> dict:
        (dest / "config.json").write_text("{}")
        raise KeyboardInterrupt  # killed midway

    with pytest.raises(KeyboardInterrupt):
        cache.install("half", "test", fill)
    assert not (home / "models" / "half").exists()
    assert not list((home / "models" / ".tmp").iterdir())
    assert models.list_models() == []


def test_stale_temp_folders_of_a_killed_pull_are_removed(tiny_model, home: Path) -> None:
    stale = home / "models" / ".tmp" / "tiny+abc123"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half")
    tiny_model("tiny")
    assert not stale.exists()


def test_concurrent_pulls_fetch_once(home: Path) -> None:
    calls = []

    def fill(dest: Path) -> dict:
        calls.append(1)
        time.sleep(0.3)
        (dest / "config.json").write_text("{}")
        return {}

    paths: list[Path] = []
    threads = [
        threading.Thread(target=lambda: paths.append(cache.install("m", "test", fill)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(set(paths)) == 1 and len(paths) == 3


def test_force_replaces_the_model_atomically(tiny_model, home: Path) -> None:
    folder = tiny_model("tiny")
    first = json.loads((folder / cache.RECORD).read_text())

    def fill(dest: Path) -> dict:
        (dest / "config.json").write_text('{"v": 2}')
        return {"v": 2}

    assert cache.install("tiny", "test", fill, force=True) == folder
    record = json.loads((folder / cache.RECORD).read_text())
    assert record["meta"] == {"v": 2} and set(record["files"]) == {"config.json"}
    assert record != first
    assert not list((home / "models" / ".tmp").iterdir())


def test_list_and_remove(tiny_model) -> None:
    tiny_model("b-model")
    tiny_model("a-model")
    listed = models.list_models()
    assert [m.name for m in listed] == ["a-model", "b-model"]
    assert listed[0].files == 3 and listed[0].source == "test"
    assert models.remove("a-model") is True
    assert models.remove("a-model") is False
    assert [m.name for m in models.list_models()] == ["b-model"]


def test_verify_rehashes_everything(tiny_model) -> None:
    folder = tiny_model("tiny")
    assert models.verify("tiny") == folder
    weights = folder / "weights.bin"
    stamp = weights.stat()
    data = bytearray(weights.read_bytes())
    data[0] ^= 1
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # hide it from the fast check
    cache.check(folder)  # the fast check trusts the stamp...
    with pytest.raises(ChecksumError, match=r"weights\.bin"):
        models.verify("tiny")  # ...a full verify does not
