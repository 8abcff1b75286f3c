"""Nothing is ever unpickled, and no module is loaded from outside its folder (issue #19,
items 5 and C).

Every pickle planted here is armed: unpickling it writes a marker file (the first test
shows it does). Each route a pickle could be read by is refused with ragdistill's own
error before any library opens a weight file: ``torch.load`` is replaced by a function
that records its calls, and no call and no marker may appear.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ragdistill.artifact_checks import CONVERT_COMMAND, check_model_folder
from ragdistill.artifacts import MANIFEST_NAME, sha256_file, write_manifest
from ragdistill.errors import ChecksumError
from ragdistill.loading import load_component


class Armed:
    """Unpickling this runs code: it writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({self.marker!r}, 'w').write('unpickled')",))


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "UNPICKLED"
    yield path
    assert not path.exists(), "a planted pickle was unpickled"


@pytest.fixture
def torch_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``torch.load`` replaced: every call is recorded and refused."""
    import torch

    calls: list[str] = []

    def refuse(path: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(path))
        raise AssertionError(f"torch.load({path!r}) was reached")

    monkeypatch.setattr(torch, "load", refuse)
    return calls


def plant(path: Path, marker: Path) -> Path:
    """An armed pickle shaped like a state dict, at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"weight": Armed(marker)}))
    return path


def copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".ragdistill-tiny*"))
    return target


@pytest.fixture
def pickled_st(tmp_path: Path, tiny_st_path: Path, marker: Path) -> Path:
    """Route 1: a plain sentence-transformers folder, no manifest, weights only in
    ``pytorch_model.bin``."""
    folder = copy_model(tiny_st_path, tmp_path / "plain")
    (folder / "model.safetensors").unlink()
    plant(folder / "pytorch_model.bin", marker)
    return folder


def embed_with(kind: str) -> Callable[[Path], Any]:
    def run(folder: Path) -> Any:
        from ragdistill.stages.embedder.components import (
            HFEncoderEmbedder,
            SentenceTransformerEmbedder,
        )

        cls = {"st": SentenceTransformerEmbedder, "hf": HFEncoderEmbedder}[kind]
        return cls(model=str(folder)).embed("a fee refund")

    return run


LOADS: dict[str, Callable[[Path], Any]] = {
    "load_component": lambda folder: load_component(folder, stage="embedder"),
    "recipe-sentence-transformers": embed_with("st"),
    "recipe-hf-encoder": embed_with("hf"),
    "student": lambda folder: _student(folder),
}


def _student(folder: Path) -> Any:
    from ragdistill.stages.embedder.student import SentenceTransformerStudent

    return SentenceTransformerStudent(model=str(folder)).build()


def test_the_planted_pickle_is_armed(tmp_path: Path) -> None:
    armed = tmp_path / "control"
    pickle.loads(plant(tmp_path / "control.bin", armed).read_bytes())
    assert armed.read_text() == "unpickled"


# -- route 1: a plain folder with pickle weights only -------------------------------------


@pytest.mark.parametrize("load", LOADS.values(), ids=LOADS.keys())
def test_a_plain_folder_with_pickle_weights_is_refused(
    pickled_st: Path, load: Callable[[Path], Any], torch_loads: list[str]
) -> None:
    with pytest.raises(ChecksumError) as info:
        load(pickled_st)
    message = str(info.value)
    assert "pytorch_model.bin" in message and "safetensors" in message, message
    assert CONVERT_COMMAND.split()[0] in message and "\n" not in message
    assert torch_loads == []


def test_a_pickle_beside_its_safetensors_is_refused_with_the_simpler_fix(
    tmp_path: Path, tiny_st_path: Path, marker: Path, torch_loads: list[str]
) -> None:
    """As a hub clone holds both: the fix is to delete the pickle, not to convert."""
    folder = copy_model(tiny_st_path, tmp_path / "clone")
    plant(folder / "pytorch_model.bin", marker)
    with pytest.raises(ChecksumError, match=r"safetensors file beside each .* delete"):
        load_component(folder, stage="embedder")
    assert torch_loads == []


def test_the_conversion_command_in_the_message_works(tmp_path: Path, tiny_st_path: Path) -> None:
    """The one-line fix turns a (trusted) pickled state dict into loadable safetensors."""
    import torch
    from safetensors.torch import load_file

    folder = copy_model(tiny_st_path, tmp_path / "convert")
    weights = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(weights, folder / "pytorch_model.bin")
    with pytest.raises(ChecksumError) as info:
        check_model_folder(folder)
    command = str(info.value).split("delete the original: ", 1)[1]
    assert command.startswith("python -c ")
    subprocess.run(command.replace("python", sys.executable, 1), shell=True, check=True)
    (folder / "pytorch_model.bin").unlink()
    component: Any = load_component(folder, stage="embedder")
    assert component.embed("hello").shape == (32,)


# -- route 2: an index of pickle shards, or of files that are not safetensors -------------


def index(folder: Path, name: str, shard: str) -> Path:
    path = folder / name
    path.write_text(json.dumps({"metadata": {}, "weight_map": {"embeddings.weight": shard}}))
    return path


@pytest.fixture
def indexed(tmp_path: Path, tiny_st_path: Path, marker: Path) -> Path:
    """A transformers folder whose weights are an index pointing at a renamed pickle."""
    folder = copy_model(tiny_st_path, tmp_path / "indexed")
    (folder / "model.safetensors").unlink()
    plant(folder / "weights.dat", marker)
    index(folder, "pytorch_model.bin.index.json", "weights.dat")
    return folder


def test_an_index_of_pickle_shards_is_refused_on_load(
    indexed: Path, torch_loads: list[str]
) -> None:
    for load in LOADS.values():
        with pytest.raises(ChecksumError, match=r"bin\.index\.json indexes pickle-format shards"):
            load(indexed)
    assert torch_loads == []


def test_write_manifest_refuses_an_index_of_pickle_shards(indexed: Path) -> None:
    with pytest.raises(ChecksumError, match="indexes pickle-format shards"):
        write_manifest(indexed, stage="embedder", loader="sentence-transformers")


def test_an_artifact_listing_an_index_of_pickle_shards_is_refused(
    indexed: Path, torch_loads: list[str]
) -> None:
    """A manifest written by hand (it lists every file, sizes and hashes right) too."""
    files = {
        p.relative_to(indexed).as_posix(): {"sha256": sha256_file(p), "size": p.stat().st_size}
        for p in indexed.rglob("*") if p.is_file()
    }  # fmt: skip
    manifest = {"format_version": 1, "stage": "embedder", "loader": "sentence-transformers",
                "files": files}  # fmt: skip
    (indexed / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ChecksumError, match="indexes pickle-format shards"):
        load_component(indexed, stage="embedder")
    assert torch_loads == []


@pytest.mark.parametrize(
    ("shard", "refusal"),
    [
        ("weights.dat", r"names the shard 'weights\.dat', not a \.safetensors file"),
        ("../outside.safetensors", r"names the shard '\.\./outside\.safetensors', outside"),
        ("/tmp/outside.safetensors", "outside the model folder"),
    ],
)
def test_a_safetensors_index_names_only_safetensors_shards_inside(
    tmp_path: Path, tiny_st_path: Path, marker: Path, shard: str, refusal: str,
    torch_loads: list[str],
) -> None:  # fmt: skip
    folder = copy_model(tiny_st_path, tmp_path / "sharded")
    (folder / "model.safetensors").unlink()
    plant(folder / "weights.dat", marker)
    index(folder, "model.safetensors.index.json", shard)
    with pytest.raises(ChecksumError, match=refusal):
        load_component(folder, stage="embedder")
    assert torch_loads == []


def test_a_config_may_not_name_pickle_weights(
    tmp_path: Path, tiny_st_path: Path, marker: Path
) -> None:
    """transformers loads ``config.json``'s ``transformers_weights`` file when it is set."""
    folder = copy_model(tiny_st_path, tmp_path / "named")
    plant(folder / "weights.dat", marker)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(
        json.dumps({**config, "transformers_weights": "weights.dat"})
    )
    with pytest.raises(ChecksumError, match=r"transformers_weights 'weights\.dat' must name"):
        load_component(folder, stage="embedder")


# -- route 3: a module folder linked from elsewhere ---------------------------------------


def add_module(folder: Path, name: str, path: str, kind: str) -> None:
    modules = json.loads((folder / "modules.json").read_text())
    modules.append({"idx": len(modules), "name": name, "path": path, "type": kind})
    (folder / "modules.json").write_text(json.dumps(modules))


DENSE = "sentence_transformers.sentence_transformer.modules.dense.Dense"


@pytest.fixture
def linked_dense(tmp_path: Path, tiny_st_path: Path, marker: Path) -> Path:
    """A ``2_Dense/`` module linked to a folder outside, holding ``pytorch_model.bin``."""
    elsewhere = tmp_path / "elsewhere"
    plant(elsewhere / "pytorch_model.bin", marker)
    (elsewhere / "config.json").write_text(
        json.dumps({"in_features": 32, "out_features": 8, "bias": True})
    )
    folder = copy_model(tiny_st_path, tmp_path / "linked")
    (folder / "2_Dense").symlink_to(elsewhere, target_is_directory=True)
    add_module(folder, "2", "2_Dense", DENSE)
    return folder


@pytest.mark.parametrize("load", LOADS.values(), ids=LOADS.keys())
def test_a_linked_module_folder_holding_a_pickle_is_refused(
    linked_dense: Path, load: Callable[[Path], Any], torch_loads: list[str]
) -> None:
    with pytest.raises(ChecksumError, match=r"2_Dense/pytorch_model\.bin"):
        load(linked_dense)
    assert torch_loads == []


def test_an_artifact_with_a_linked_module_folder_is_refused(
    linked_dense: Path, torch_loads: list[str]
) -> None:
    with pytest.raises(ChecksumError, match="2_Dense is a symbolic link"):
        write_manifest(linked_dense, stage="embedder", loader="sentence-transformers")


def test_a_linked_folder_holding_safetensors_is_no_pickle_route(
    tmp_path: Path, tiny_st_path: Path
) -> None:
    """A plain folder may link elsewhere (a hub cache snapshot links every file into
    ``blobs/``): only what would be read is judged, by the name a loader sees."""
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    folder = copy_model(tiny_st_path, tmp_path / "snapshot")
    weights = folder / "model.safetensors"
    shutil.move(weights, blobs / "0123abcd")
    weights.symlink_to(blobs / "0123abcd")
    component: Any = load_component(folder, stage="embedder")
    assert component.embed("hello").shape == (32,)


def test_a_link_loop_ends_the_walk(tmp_path: Path, tiny_st_path: Path) -> None:
    folder = copy_model(tiny_st_path, tmp_path / "loop")
    (folder / "1_Pooling" / "again").symlink_to(folder, target_is_directory=True)
    check_model_folder(folder)


# -- C. modules.json: every module from inside the folder ---------------------------------


@pytest.fixture
def outside_module(tmp_path: Path, marker: Path) -> Path:
    elsewhere = tmp_path / "elsewhere"
    plant(elsewhere / "pytorch_model.bin", marker)
    (elsewhere / "config.json").write_text(
        json.dumps({"in_features": 32, "out_features": 8, "bias": True})
    )
    return elsewhere


@pytest.mark.parametrize("path", ["../elsewhere", "1_Pooling/../../elsewhere", "ABSOLUTE"])
@pytest.mark.parametrize("load", LOADS.values(), ids=LOADS.keys())
def test_a_module_path_outside_the_folder_is_refused(
    tmp_path: Path, tiny_st_path: Path, outside_module: Path, path: str,
    load: Callable[[Path], Any], torch_loads: list[str],
) -> None:  # fmt: skip
    folder = copy_model(tiny_st_path, tmp_path / "model")
    path = str(outside_module) if path == "ABSOLUTE" else path
    add_module(folder, "2", path, DENSE)
    with pytest.raises(ChecksumError) as info:
        load(folder)
    message = str(info.value)
    assert f"module '2' has path {path!r}, outside the model folder" in message, message
    assert "\n" not in message
    assert torch_loads == []


def test_write_manifest_refuses_a_module_path_outside(
    tmp_path: Path, tiny_st_path: Path, outside_module: Path
) -> None:
    folder = copy_model(tiny_st_path, tmp_path / "model")
    add_module(folder, "2", "../elsewhere", DENSE)
    with pytest.raises(ChecksumError, match="outside the model folder"):
        write_manifest(folder, stage="embedder", loader="sentence-transformers")


def test_a_module_class_outside_sentence_transformers_needs_the_callers_trust(
    tmp_path: Path, tiny_st_path: Path
) -> None:
    """Importing the class runs its module's code (older sentence-transformers did so
    for any local folder); only the caller's ``trust_remote_code`` allows it."""
    folder = copy_model(tiny_st_path, tmp_path / "custom")
    modules = json.loads((folder / "modules.json").read_text())
    modules[1]["type"] = "evil_module.Pooling"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ChecksumError, match=r"type 'evil_module\.Pooling'.*trust_remote_code=True"):
        load_component(folder, stage="embedder").embed("x")  # type: ignore[attr-defined]
    check_model_folder(folder, trust_remote_code=True)  # the paths are fine


# -- hub ids: left to the libraries, asked for safetensors --------------------------------


def test_a_hub_id_is_loaded_with_safetensors_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from ragdistill.hf import _loading

    seen: dict[str, Any] = {}

    class Loader:
        @staticmethod
        def from_pretrained(name: str, **kwargs: Any) -> str:
            seen.update(kwargs)
            return name

    monkeypatch.setattr(_loading, "_resolve", lambda name, **_: name)
    _loading.load_pretrained(Loader, "org/model", what="model")
    assert seen["use_safetensors"] is True
    seen.clear()
    _loading.load_pretrained(Loader, "org/model", what="tokenizer", weights=False)
    assert "use_safetensors" not in seen


def test_sentence_transformers_takes_safetensors_only_through_model_kwargs(
    tiny_st_path: Path,
) -> None:
    from sentence_transformers import SentenceTransformer

    from ragdistill.stages.embedder.components import _PathLoader

    loader = _PathLoader(SentenceTransformer, device="cpu")
    model = loader.from_pretrained(str(tiny_st_path), use_safetensors=True)
    assert model.encode(["hello"]).shape == (1, 32)
