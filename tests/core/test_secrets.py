"""A key never travels with a recipe, a run folder, an artifact or a cache (issue #19,
item 3).

Keys come from the environment (``api_key_env = "NAME"``); one written in a recipe is
refused when the recipe is validated, with an error that names the option and not the
value. End to end, a canary key held in the variable a teacher names is used for a whole
distillation and A/B, and then no file under the run folder, the teacher cache or
``RAGDISTILL_HOME`` holds its bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ragdistill.credentials import mask_secrets, refuse_secrets
from ragdistill.errors import ConfigError
from ragdistill.recipes import load_recipe, public_recipe
from ragdistill.stages.embedder.components import SentenceTransformerEmbedder
from tests.core.tiny_beir import tiny_recipe, write_tiny_beir

CANARY = "sk-canary-0c6f1d9e2b7a4f58a1d3e6b9c2f5a8d1"
KEY_ENV = "RAGDISTILL_TEST_CANARY_KEY"
USED: list[int] = []


class KeyedTeacher(SentenceTransformerEmbedder):
    """The tiny teacher behind a key read from the environment, as an API teacher reads
    its key: it refuses to embed without the canary, so the key is really used."""

    def __init__(
        self, model: str, api_key_env: str = "OPENAI_API_KEY", batch_size: int = 32,
        device: str = "cpu",
    ) -> None:  # fmt: skip
        super().__init__(model, device=device, batch_size=batch_size)
        self.api_key_env = api_key_env

    def embed_batch(self, texts: list[str], *, input_type: Any = "document") -> Any:
        if os.environ.get(self.api_key_env) != CANARY:
            raise PermissionError(f"no key in ${self.api_key_env}")
        USED.append(len(texts))
        return super().embed_batch(texts, input_type=input_type)


class KeyedPlugin:
    from ragdistill.hookspecs import hookimpl

    @hookimpl
    def register_teachers(self, register: Any) -> None:
        register("keyed-teacher", KeyedTeacher)


@pytest.fixture
def keyed_teacher() -> Iterator[None]:
    from ragdistill import plugins, registry

    pm = plugins.default_plugin_manager()
    plugin = KeyedPlugin()
    pm.register(plugin, name="keyed-teacher-test")
    registry.reset()
    try:
        yield
    finally:
        pm.unregister(plugin)
        registry.reset()


def keyed_recipe(workdir: Path, model: Path, beir: Path, teacher_lines: str) -> Path:
    path = tiny_recipe(workdir, str(model), str(model), beir, teacher_kind="keyed-teacher")
    text = path.read_text()
    text = text.replace('kind = "keyed-teacher"', f'kind = "keyed-teacher"\n{teacher_lines}')
    text = text.replace("[train]\n", '[train]\ncallbacks = ["tensorboard"]\n')
    text = text.replace("epochs = 3", "epochs = 1")
    path.write_text(text)
    return path


def files_holding(folder: Path, secret: str) -> list[str]:
    """Every file under ``folder`` whose bytes contain ``secret``."""
    needle = secret.encode()
    return sorted(str(p) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes())


# -- a literal key in a recipe is refused -------------------------------------------------


def refused(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        refuse_secrets(data, "recipe.toml")
    message = str(info.value)
    assert "\n" not in message and CANARY not in message, message
    assert "sk-canary" not in message and "canary" not in message, message
    return message


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"teacher": {"kind": "openai", "api_key": CANARY}}, "[teacher] api_key"),
        ({"teacher": {"kind": "x", "members": [{"kind": "y"}, {"token": CANARY}]}},
         "[teacher.members[1]] token"),
        ({"teacher": {"kind": "x", "headers": {"Authorization": f"Bearer {CANARY}"}}},
         "[teacher.headers] Authorization"),
        ({"teacher": {"kind": "x", "headers": {"X-Api-Key": CANARY}}},
         "[teacher.headers] X-Api-Key"),
        ({"plugins": {"tracker": {"password": "canary-hunter2"}}}, "[plugins.tracker] password"),
        ({"teacher": {"kind": "x", "extra": CANARY}}, "[teacher] extra holds what looks like"),
        ({"data": {"path": "https://user:canary@example.com/corpus"}},
         "[data] path holds what looks like a URL with a password"),
    ],
)  # fmt: skip
def test_a_credential_written_in_a_recipe_is_refused(data: dict[str, Any], where: str) -> None:
    message = refused(data)
    assert message.startswith(f"recipe.toml: {where}"), message
    assert 'api_key_env = "NAME"' in message and "not shown" in message


@pytest.mark.parametrize(
    "value", [CANARY, "hf_" + "canary" * 6, "Canary0123456789abcdefGHIJKLMNOPqr", "MY KEY"]
)
def test_the_key_pasted_where_its_variable_name_belongs_is_refused(value: str) -> None:
    message = refused({"teacher": {"kind": "openai", "api_key_env": value}})
    assert "[teacher] api_key_env must be the name of an environment variable" in message


@pytest.mark.parametrize(
    "teacher",
    [
        {"kind": "openai", "api_key_env": "OPENAI_API_KEY"},
        {"kind": "openai", "api_key_env": "my_team_key_2"},
        {"kind": "openai", "api_key": ""},
        {"kind": "hf-llm", "prompt": "Ask the desk about a task-specific fee"},
        {"kind": "hf-llm", "max_new_tokens": 64, "pad_token": "<pad>"},
    ],
)
def test_what_is_not_a_credential_passes(teacher: dict[str, Any]) -> None:
    refuse_secrets({"teacher": teacher, "data": {"path": "https://example.com/x.json"}}, "r")


def test_the_recipe_file_route_is_refused_before_anything_runs(
    tmp_path: Path, tiny_st_path: Path, keyed_teacher: None
) -> None:
    path = keyed_recipe(tmp_path, tiny_st_path, tmp_path / "beir", f'api_key = "{CANARY}"')
    with pytest.raises(ConfigError) as info:
        load_recipe(path)
    message = str(info.value)
    assert message.startswith(f"{path}: [teacher] api_key: a credential written in a recipe ")
    assert CANARY not in message and 'api_key_env = "NAME"' in message
    assert not (tmp_path / "out").exists()


def test_a_recipe_built_in_code_is_written_with_its_credentials_masked(
    tmp_path: Path, tiny_st_path: Path, keyed_teacher: None
) -> None:
    """``public_recipe`` (recipe.json, manifests) masks what refuse_secrets would refuse,
    for a Recipe that never went through a recipe file."""
    from ragdistill.recipes.schema import PluggableSpec

    beir = write_tiny_beir(tmp_path / "beir")
    recipe = load_recipe(keyed_recipe(tmp_path, tiny_st_path, beir, ""))
    headers = {"X-Api-Key": CANARY}
    recipe.teacher = PluggableSpec(
        kind="keyed-teacher", model="m", api_key=CANARY, headers=headers, note=f"Bearer {CANARY}"
    )
    public = public_recipe(recipe)
    assert CANARY not in repr(public)
    assert public["teacher"]["api_key"] == "***"
    assert public["teacher"]["headers"] == {"X-Api-Key": "***"}
    assert mask_secrets({"api_key_env": KEY_ENV}) == {"api_key_env": KEY_ENV}


def test_a_manifest_masks_a_key_a_component_built_in_code_describes(tmp_path: Path) -> None:
    from ragdistill.artifacts import read_manifest, write_manifest

    (tmp_path / "config.json").write_text("{}")
    teacher = {"class": "x.Teacher", "options": {"api_key": CANARY, "api_key_env": KEY_ENV}}
    write_manifest(tmp_path, stage="embedder", loader="sentence-transformers", teacher=teacher)
    assert files_holding(tmp_path, CANARY) == []
    manifest: Any = read_manifest(tmp_path)
    assert manifest["teacher"]["options"] == {"api_key": "***", "api_key_env": KEY_ENV}


def test_results_and_caches_mask_a_key_a_component_built_in_code_describes(
    tmp_path: Path,
) -> None:
    """A component built in code may describe its key; nothing written from it keeps it."""
    from ragdistill.generation.store import GenerationStore
    from ragdistill.stages.reranker.ab_result import RerankABResult, RerankArm
    from ragdistill.teacher_cache import TeacherCache

    described = {"class": "x.Teacher", "options": {"api_key": CANARY, "model": "m"}}
    arm = RerankArm(name="teacher", component=described, model="m")
    result = RerankABResult(dataset={}, settings={}, query_ids=[], arms={"teacher": arm})
    path = result.to_json(tmp_path / "ab.json")
    assert CANARY not in path.read_text()
    assert RerankABResult.from_json(path).arms["teacher"].component["options"] == {
        "api_key": "***", "model": "m",
    }  # fmt: skip
    TeacherCache.open("t1", dim=4, root=tmp_path / "cache", description=described).close()
    GenerationStore.open("t2", root=tmp_path / "cache", description=described).close()
    assert files_holding(tmp_path, CANARY) == []


# -- end to end: the key from the environment is used, and written nowhere ----------------


def test_a_distillation_with_a_key_writes_it_nowhere(
    tmp_path: Path, tiny_st_path: Path, keyed_teacher: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tensorboard")
    from ragdistill.distill import run_recipe
    from ragdistill.stages.embedder.evaluate import ab_for_recipe

    home = tmp_path / "home"
    monkeypatch.setenv("RAGDISTILL_HOME", str(home))
    monkeypatch.delenv("RAGDISTILL_TEACHER_CACHE", raising=False)  # every cache under home
    monkeypatch.setenv(KEY_ENV, CANARY)
    work = tmp_path / "work"
    work.mkdir()
    beir = write_tiny_beir(tmp_path / "beir")
    recipe = load_recipe(keyed_recipe(work, tiny_st_path, beir, f'api_key_env = "{KEY_ENV}"'))
    USED.clear()
    artifact = run_recipe(recipe, show_progress=False)
    report = ab_for_recipe(recipe, artifact, show_progress=False)
    assert USED, "the teacher never embedded with the key"

    out, cache = work / "out", work / "cache"
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    for name in ("recipe.json", "train_log.jsonl", "student/ragdistill.json", "ab.json"):
        assert any(w.startswith("work/out/") and w.endswith(name) for w in written), name
    assert report.suffix == ".html" and report.is_file()
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert any(w.startswith("work/cache/") for w in written)
    for folder in (out, cache, home):
        assert files_holding(folder, CANARY) == []
    assert KEY_ENV in (out / "recipe.json").read_text()  # the variable's name is kept
