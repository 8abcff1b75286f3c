"""Choosing a source: local folders, the catalog, the hub (offline), unknown names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragdistill import models
from ragdistill.errors import ConfigError, PluginError, UnknownNameError
from ragdistill.models.catalog import CATALOG, lookup
from ragdistill.models.hub import HubUnreachableError


def test_builtin_sources_are_registered_in_priority_order() -> None:
    from ragdistill.plugins import get_plugin_manager
    from ragdistill.registry import build_registry

    registry = build_registry(get_plugin_manager(entry_points=False), kinds=("model_source",))
    assert {e.name for e in registry.entries("model_source")} == {"local", "pypi", "hf"}
    assert [s.scheme for s in models.sources()] == ["local", "pypi", "hf"]


def test_catalog_entries_are_pinned_and_consistent() -> None:
    names = [e.name for e in CATALOG]
    assert len(set(names)) == len(names)
    assert {"all-MiniLM-L6-v2", "all-mpnet-base-v2", "SmolLM2-135M-Instruct"} <= set(names)
    for entry in CATALOG:
        assert len(entry.members) == len(entry.wheels), entry.name
        for ref in [*entry.wheels, *(w for w, _ in entry.extras)]:
            assert len(ref.sha256) == 64 and int(ref.sha256, 16) >= 0, ref
        if entry.layout != "folder":
            assert entry.sha256 and len(entry.sha256) == 64, entry.name
    assert lookup("sentence-transformers/all-MiniLM-L6-v2").name == "all-MiniLM-L6-v2"
    assert lookup("ALL-MINILM-L6-V2").name == "all-MiniLM-L6-v2"
    assert lookup("nope") is None
    assert set(models.available()) == set(names)


def _model_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({"model_type": "bert"}))
    return root


def test_local_folder_is_used_in_place(home: Path, tmp_path: Path) -> None:
    folder = _model_folder(tmp_path / "my-model")
    assert models.pull(str(folder)) == folder.resolve()
    assert models.pull(f"local:{folder}") == folder.resolve()
    assert models.resolve_model(str(folder)) == str(folder.resolve())
    assert models.cached_path(str(folder)) == folder.resolve()
    assert models.list_models() == []  # nothing copied into the cache


def test_local_folder_validation(home: Path, tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="no such model folder"):
        models.pull(f"local:{tmp_path / 'missing'}")
    with pytest.raises(UnknownNameError, match="no such model folder"):
        models.pull("./surely-not-here")
    outer = tmp_path / "outer"
    _model_folder(outer / "model")
    with pytest.raises(ConfigError, match=r"did you mean '.*outer/model'"):
        models.pull(str(outer))
    onnx_only = tmp_path / "onnx"
    onnx_only.mkdir()
    (onnx_only / "model.onnx").write_bytes(b"graph")
    assert models.pull(str(onnx_only)) == onnx_only.resolve()
    with pytest.raises(ConfigError, match="is a file"):
        models.pull(str(onnx_only / "model.onnx"))


def test_hub_offline_gives_a_clear_error(home: Path) -> None:
    with pytest.raises(HubUnreachableError) as err:
        models.pull("hf:BAAI/bge-small-en-v1.5")
    message = str(err.value)
    assert "unreachable" in message and "HF_HUB_OFFLINE" in message
    assert "ragdistill models list --available" in message and "local:" in message
    with pytest.raises(HubUnreachableError):
        models.pull("BAAI/bge-small-en-v1.5")  # an unprefixed hub id falls to the hub
    assert models.list_models() == []


def test_resolve_model_leaves_hub_ids_to_the_libraries(home: Path) -> None:
    assert models.resolve_model("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    assert models.cached_path("BAAI/bge-small-en-v1.5") is None


def test_a_misspelled_packaged_name_suggests_the_catalog_name(home: Path) -> None:
    with pytest.raises(
        HubUnreachableError, match="Did you mean the packaged model 'all-MiniLM-L6-v2'"
    ):
        models.pull("all-MiniLM-L6-v3")
    with pytest.raises(UnknownNameError, match="did you mean 'all-mpnet-base-v2'"):
        models.pull("all mpnet base v2")  # no source takes a name with spaces
    with pytest.raises(UnknownNameError, match="did you mean 'SmolLM2-135M-Instruct'"):
        models.pull("pypi:SmolLM2-135M-Instruc")


def test_a_source_registered_under_another_name_is_refused(monkeypatch) -> None:
    from ragdistill.models.local import LocalSource
    from ragdistill.registry import Registry

    registry = Registry()
    registry.add("model_source", "disk", LocalSource, plugin="p")
    monkeypatch.setattr("ragdistill.registry.build_registry", lambda pm, kinds: registry)
    with pytest.raises(PluginError, match="register it under its scheme"):
        models.sources()


def _fake_snapshot(repo_id: str, *, revision=None, local_dir=None, **_: object) -> str:
    # What snapshot_download leaves: the files plus its own download metadata.
    dest = Path(local_dir)
    (dest / "config.json").write_text(json.dumps({"model_type": "bert", "repo": repo_id}))
    meta = dest / ".cache" / "huggingface" / "download" / "config.json.metadata"
    meta.parent.mkdir(parents=True)
    meta.write_text("0123abcd\netag\n1.0\n")
    return str(dest)


def test_hub_snapshot_goes_into_the_cache(home: Path, monkeypatch) -> None:
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", _fake_snapshot)
    path = models.pull("hf:org/tiny@v1", progress=False)
    assert path == home / "models" / "org--tiny@v1"
    assert not (path / ".cache").exists()
    cached = models.list_models()[0]
    assert cached.source == "hf"
    assert cached.meta == {"repo_id": "org/tiny", "revision": "v1", "commit": "0123abcd"}
    assert models.resolve_model("org/tiny@v1") == str(path)


def test_hub_network_failures_say_the_hub_is_unreachable(home: Path, monkeypatch) -> None:
    import huggingface_hub
    from huggingface_hub import errors

    def down(*_: object, **__: object) -> str:
        raise errors.LocalEntryNotFoundError("cannot reach huggingface.co")

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", down)
    with pytest.raises(HubUnreachableError, match="unreachable"):
        models.pull("hf:org/tiny", progress=False)
    assert models.list_models() == []
