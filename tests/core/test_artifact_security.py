"""What loading an artifact trusts its manifest with (issue #19, items 1, 2, 4 and 6).

A manifest says how to run the folder's own model; it may never widen the load (run
code, load another model, reach a server, pick credentials), its file list is checked
against the folder rather than trusted, and a malformed one is named field by field.
Every test loads a tiny real model through ``load_component``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ragdistill import artifacts
from ragdistill.artifacts import MANIFEST_NAME, check_load_options, write_manifest
from ragdistill.contracts import Embedder, FloatArray, InputType
from ragdistill.errors import ChecksumError, ConfigError
from ragdistill.loading import is_network_loader, load_component

Edit = Callable[[dict[str, Any]], None]


def copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".ragdistill-tiny*"))
    return target


@pytest.fixture
def artifact(tmp_path: Path, tiny_st_path: Path) -> Path:
    """The tiny sentence-transformer as an embedder artifact of its own."""
    folder = copy_model(tiny_st_path, tmp_path / "artifact")
    write_manifest(folder, stage="embedder", loader="sentence-transformers")
    return folder


def edit_manifest(folder: Path, edit: Edit) -> Path:
    """Rewrite the manifest (it is not in its own checksums) as an attacker could."""
    path = folder / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    return path


def set_options(**options: Any) -> Edit:
    return lambda manifest: manifest["load_options"].update(options)


# -- 1. a manifest never widens what a load may do ---------------------------------------


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"trust_remote_code": True}, "load_options.trust_remote_code"),
        ({"normalize": True, "trust_remote_code": 1}, "load_options.trust_remote_code"),
        ({"extra": {"deep": [{"trust_remote_code": True}]}}, "extra.deep[0].trust_remote_code"),
        ({"base_url": "http://attacker.example"}, "load_options.base_url"),
        ({"extra_body": {"url": "http://attacker.example"}}, "load_options.extra_body.url"),
        ({"api_key_env": "AWS_SECRET_ACCESS_KEY"}, "load_options.api_key_env"),
        ({"hf_token": "x"}, "load_options.hf_token"),
        ({"cache_dir": "/etc"}, "load_options.cache_dir"),
    ],
)
def test_a_manifest_cannot_widen_a_load(artifact: Path, options: dict[str, Any], key: str) -> None:
    manifest = edit_manifest(artifact, set_options(**options))
    with pytest.raises(ConfigError) as info:
        load_component(artifact, stage="embedder")
    message = str(info.value)
    assert str(manifest) in message and key in message, message
    assert "\n" not in message


def test_a_manifest_cannot_point_the_load_at_other_weights(
    artifact: Path, tmp_path: Path, tiny_cross_encoder_path: Path
) -> None:
    """``model`` in load_options would load unverified weights from anywhere."""
    other = copy_model(tiny_cross_encoder_path, tmp_path / "elsewhere")
    edit_manifest(artifact, set_options(model=str(other)))
    with pytest.raises(ConfigError, match=r"load_options\.model loads a model other than"):
        load_component(artifact, stage="embedder")


def test_remote_code_comes_from_the_caller_only(artifact: Path) -> None:
    trusted: Any = load_component(artifact, stage="embedder", trust_remote_code=True)
    assert trusted.trust_remote_code is True
    plain: Any = load_component(artifact, stage="embedder")
    assert plain.trust_remote_code is False


def test_write_manifest_refuses_what_no_load_would_accept(artifact: Path) -> None:
    with pytest.raises(ConfigError, match=r"load_options\.trust_remote_code"):
        write_manifest(
            artifact, stage="embedder", loader="sentence-transformers",
            load_options={"trust_remote_code": True},
        )  # fmt: skip


def test_distilled_query_transformers_keep_their_load_options(
    tmp_path: Path, tiny_causal_lm_path: Path, tiny_seq2seq_path: Path
) -> None:
    """What the query-transformer stage writes (task, prompts, expansion...) still loads."""
    causal = copy_model(tiny_causal_lm_path, tmp_path / "causal")
    write_manifest(
        causal, stage="query_transformer", loader="hf-llm",
        load_options={"task": "expand", "num_queries": 3, "max_new_tokens": 8,
                      "rewrite_prompt": "R {history} {query}", "expand_prompt": "E {n} {query}",
                      "hyde_prompt": "H {query}"},
    )  # fmt: skip
    llm: Any = load_component(causal, stage="query_transformer")
    assert (llm.task, llm.num_queries, llm.prompts["expand"]) == ("expand", 3, "E {n} {query}")

    seq2seq = copy_model(tiny_seq2seq_path, tmp_path / "seq2seq")
    write_manifest(
        seq2seq, stage="query_transformer", loader="hf-seq2seq",
        load_options={"max_length": 64, "task": "expand", "num_queries": 2,
                      "max_new_tokens": 8, "expansion": "separator", "prefix": "expand: "},
    )  # fmt: skip
    t5: Any = load_component(seq2seq, stage="query_transformer")
    assert (t5.task, t5.expansion, t5.prefix) == ("expand", "separator", "expand: ")


def test_the_generator_and_reranker_manifests_pass() -> None:
    for options in ({}, {"max_length": 128}, {"max_length": 64, "device": "cpu"}):
        check_load_options(options, "test")


# -- 2. network-backed loaders ------------------------------------------------------------


class ServerEmbedder(Embedder):
    """Says nothing about the network, but takes a server address."""

    def __init__(self, model: str, base_url: str = "http://localhost") -> None:
        self.model, self.base_url = model, base_url

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        raise NotImplementedError


class VouchedEmbedder(ServerEmbedder):
    network = False


def test_network_loaders_are_known_by_declaration_or_by_their_options() -> None:
    from ragdistill.stages.embedder.components import SentenceTransformerEmbedder

    assert is_network_loader(ServerEmbedder)
    assert not is_network_loader(VouchedEmbedder)
    assert not is_network_loader(SentenceTransformerEmbedder)


@pytest.fixture
def openai_artifact(artifact: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytest.importorskip("ragdistill_openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-never-sent")
    edit_manifest(artifact, lambda manifest: manifest.update(loader="openai"))
    return artifact


def test_an_artifact_cannot_choose_a_network_loader(openai_artifact: Path) -> None:
    from ragdistill_openai.embedder import OpenAIEmbedder

    assert is_network_loader(OpenAIEmbedder)
    with pytest.raises(ConfigError, match=r"'openai'.*server.*allow_network=True") as info:
        load_component(openai_artifact, stage="embedder")
    assert str(openai_artifact) in str(info.value)


def test_the_caller_may_allow_a_network_loader(openai_artifact: Path) -> None:
    component: Any = load_component(
        openai_artifact, stage="embedder", allow_network=True, model="text-embedding-3-small",
        cache=False,
    )  # fmt: skip
    try:
        assert component.model == "text-embedding-3-small"
        assert component.client.base_url.startswith("https://api.openai.com")
    finally:
        component.close()


def test_allowing_the_network_does_not_let_the_manifest_pick_the_server(
    openai_artifact: Path,
) -> None:
    edit_manifest(openai_artifact, set_options(base_url="http://attacker.example"))
    with pytest.raises(ConfigError, match=r"load_options\.base_url points the load at a server"):
        load_component(openai_artifact, stage="embedder", allow_network=True, model="m")


# -- 6. malformed manifests ---------------------------------------------------------------


def drop(key: str) -> Edit:
    return lambda manifest: manifest.pop(key)


def put(key: str, value: Any) -> Edit:
    return lambda manifest: manifest.update({key: value})


def first_file(field: str, value: Any) -> Edit:
    def edit(manifest: dict[str, Any]) -> None:
        entry = manifest["files"][sorted(manifest["files"])[0]]
        entry[field] = value

    return edit


MALFORMED = {
    "no-files": (drop("files"), "'files'"),
    "no-stage": (drop("stage"), "'stage'"),
    "no-loader": (drop("loader"), "'loader'"),
    "files-list": (put("files", ["model.safetensors"]), '"files" must be a table'),
    "entry-string": (put("files", {"model.safetensors": "abc"}), '"files" entry \'model.'),
    "size-string": (first_file("size", "12"), "size must be a size in bytes"),
    "size-negative": (first_file("size", -1), "size must be a size in bytes"),
    "sha-null": (first_file("sha256", None), "sha256 must be 64 lowercase hex digits"),
    "stage-number": (put("stage", 3), '"stage" must be the name of a registered stage'),
    "loader-empty": (put("loader", ""), '"loader" must be'),
    "options-list": (put("load_options", ["task"]), '"load_options" must be a table'),
    "metrics-null": (put("metrics", None), '"metrics" must be a table'),
    "version-string": (put("format_version", "1"), '"format_version" must be a whole number'),
    "version-newer": (put("format_version", 99), "newer ragdistill"),
}


@pytest.mark.parametrize(("edit", "field"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_manifest_is_named_field_by_field(
    artifact: Path, edit: Edit, field: str
) -> None:
    manifest = edit_manifest(artifact, edit)
    with pytest.raises(ConfigError) as info:
        load_component(artifact, stage="embedder")
    message = str(info.value)
    assert message.startswith(f"{manifest}:") and field in message, message
    assert "\n" not in message


def test_a_manifest_that_is_not_an_object_is_named(artifact: Path) -> None:
    (artifact / MANIFEST_NAME).write_text("[1, 2]")
    with pytest.raises(ConfigError, match="the manifest must be a JSON object, got a list"):
        load_component(artifact, stage="embedder")


# -- 4. the file list is checked, not trusted ---------------------------------------------


def listing(file: Path) -> dict[str, Any]:
    return {"sha256": artifacts.sha256_file(file), "size": file.stat().st_size}


def list_file(rel: str, file: Path) -> Edit:
    return lambda manifest: manifest["files"].update({rel: listing(file)})


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file beside the artifact, not in it."""
    file = tmp_path / "secret.txt"
    file.write_text("not part of any artifact\n")
    return file


def test_a_listed_path_may_not_leave_the_folder(artifact: Path, outside: Path) -> None:
    edit_manifest(artifact, list_file("../secret.txt", outside))
    with pytest.raises(ChecksumError, match=r"'\.\./secret\.txt', a path outside the artifact"):
        load_component(artifact, stage="embedder")


def test_a_listed_path_may_not_be_absolute(artifact: Path, outside: Path) -> None:
    edit_manifest(artifact, list_file(str(outside), outside))
    with pytest.raises(ChecksumError, match="a path outside the artifact folder"):
        load_component(artifact, stage="embedder")


def test_a_listed_link_may_not_leave_the_folder(artifact: Path, outside: Path) -> None:
    (artifact / "notes.txt").symlink_to(outside)
    edit_manifest(artifact, list_file("notes.txt", outside))
    with pytest.raises(ChecksumError, match=r"notes\.txt is a symbolic link to .*secret\.txt"):
        load_component(artifact, stage="embedder")


def test_a_linked_folder_may_not_leave_the_artifact(artifact: Path, tmp_path: Path) -> None:
    """A module folder (``2_Dense/``) linked to weights elsewhere is refused, listed or not."""
    elsewhere = tmp_path / "dense"
    elsewhere.mkdir()
    (elsewhere / "model.safetensors").write_bytes(b"weights kept elsewhere")
    (artifact / "2_Dense").symlink_to(elsewhere, target_is_directory=True)
    edit_manifest(artifact, list_file("2_Dense/model.safetensors", elsewhere / "model.safetensors"))
    with pytest.raises(ChecksumError, match="2_Dense is a symbolic link"):
        load_component(artifact, stage="embedder")
    with pytest.raises(ChecksumError, match="2_Dense is a symbolic link"):
        write_manifest(artifact, stage="embedder", loader="sentence-transformers")


def test_a_link_inside_the_folder_is_fine(artifact: Path) -> None:
    weights = next(artifact.rglob("*.safetensors"))
    (artifact / "alias.safetensors").symlink_to(weights)
    write_manifest(artifact, stage="embedder", loader="sentence-transformers")
    assert load_component(artifact, stage="embedder").stage == "embedder"


def test_an_empty_file_list_does_not_turn_verification_off(artifact: Path) -> None:
    edit_manifest(artifact, put("files", {}))
    with pytest.raises(ChecksumError, match=r"does not list .*model\.safetensors") as info:
        load_component(artifact, stage="embedder")
    assert "every weight and code file" in str(info.value)


def test_an_unlisted_weight_or_code_file_is_refused(artifact: Path) -> None:
    (artifact / "extra.safetensors").write_bytes(b"\0" * 16)
    (artifact / "modeling_evil.py").write_text("import os\n")
    with pytest.raises(ChecksumError, match=r"does not list extra\.safetensors, modeling_evil\.py"):
        load_component(artifact, stage="embedder")


def test_sizes_are_checked_before_anything_is_hashed(
    artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = next(artifact.rglob("*.safetensors"))
    rel = weights.relative_to(artifact).as_posix()

    def wrong_size(manifest: dict[str, Any]) -> None:
        manifest["files"][rel]["size"] += 1

    edit_manifest(artifact, wrong_size)
    hashed: list[Path] = []
    real = artifacts.sha256_file

    def recording(path: Path, chunk: int = 1 << 20) -> str:
        hashed.append(Path(path))
        return real(path, chunk)

    monkeypatch.setattr(artifacts, "sha256_file", recording)
    with pytest.raises(ChecksumError, match=rf"{weights.name} is \d+ bytes, its manifest says"):
        load_component(artifact, stage="embedder")
    assert hashed == []


def test_a_verified_artifact_still_loads(artifact: Path) -> None:
    component = load_component(artifact, stage="embedder")
    assert component.manifest["loader"] == "sentence-transformers"  # type: ignore[attr-defined]
    assert component.embed("hello").ndim == 1  # type: ignore[attr-defined]
