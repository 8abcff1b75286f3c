"""Recipes fail on load, naming the key, before any model loads."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from ragdistill.errors import ConfigError
from ragdistill.recipes import load_recipe, parse_recipe, recipe_fingerprint

GOOD = """
stage = "embedder"
name = "tiny"
output = "{output}"

[teacher]
kind = "sentence-transformers"
model = "all-mpnet-base-v2"

[student]
kind = "sentence-transformers"
model = "all-MiniLM-L6-v2"
keep_layers = [0, 2, 4]

[data]
dataset = "beir"
path = "/data/scifact"

[[losses]]
name = "mse"

[[losses]]
name = "ntxent"
weight = 0.5
temperature = 0.05

[train]
epochs = 2
learning_rate = 1e-4
"""


def write(tmp_path, text):
    path = tmp_path / "recipe.toml"
    path.write_text(textwrap.dedent(text).replace("{output}", str(tmp_path / "out")))
    return path


def test_good_recipe_loads(tmp_path):
    recipe = load_recipe(write(tmp_path, GOOD))
    assert recipe.train.epochs == 2 and recipe.student.options["keep_layers"] == [0, 2, 4]
    assert recipe.losses[1].options == {"temperature": 0.05}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "learning_rate = 1e-4",
            "learning_rat = 1e-4",
            "train.learning_rat: unknown key; did you mean 'learning_rate'?",
        ),
        (
            'model = "all-mpnet-base-v2"',
            'modle = "all-mpnet-base-v2"',
            "teacher.modle: unknown key; did you mean 'model'?",
        ),
        (
            "keep_layers = [0, 2, 4]",
            "keep_layer = [0, 2, 4]",
            "student.keep_layer: unknown key; did you mean 'keep_layers'?",
        ),
        ("temperature = 0.05", "temprature = 0.05", "losses[1].temprature"),
        ("epochs = 2", 'epochs = "two"', "train.epochs"),
        ("epochs = 2", "epochs = 0", "train.epochs: Input should be greater than or equal to 1"),
        ("temperature = 0.05", "temperature = 0.0", "temperature"),
        (
            'path = "/data/scifact"',
            'pth = "/data/scifact"',
            "data.pth: unknown key; did you mean 'path'?",
        ),
        ('name = "mse"', 'name = "mse2"', "did you mean 'mse'"),
        (
            'kind = "sentence-transformers"\nmodel = "all-mpnet',
            'kind = "sentence-transformer"\nmodel = "all-mpnet',
            "did you mean 'sentence-transformers'",
        ),
        ('stage = "embedder"', 'stage = "embeder"', "stage"),
    ],
)
def test_typo_fails_naming_the_key(tmp_path, old, new, expected):
    assert old in GOOD
    with pytest.raises(ConfigError) as info:
        load_recipe(write(tmp_path, GOOD.replace(old, new, 1)))
    assert expected in str(info.value)
    assert str(tmp_path / "recipe.toml") in str(info.value)


def test_typo_fails_before_any_model_library_loads(tmp_path):
    path = write(tmp_path, GOOD.replace("learning_rate", "learning_rat"))
    code = (
        "import sys\nfrom ragdistill.recipes import load_recipe\n"
        f"try:\n    load_recipe({str(path)!r})\nexcept Exception as e:\n    print(type(e).__name__)\n"
        "print([m for m in ('transformers', 'sentence_transformers') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ConfigError", "[]"]


def test_not_toml_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_recipe(write(tmp_path, "stage = \n"))


def test_fingerprint_ignores_output_but_not_training(tmp_path):
    base = load_recipe(write(tmp_path, GOOD))
    data = base.model_dump(mode="json")
    moved = parse_recipe({**data, "output": "elsewhere"})
    assert recipe_fingerprint(moved) == recipe_fingerprint(base)
    changed = parse_recipe({**data, "train": {**data["train"], "epochs": 3}})
    assert recipe_fingerprint(changed) != recipe_fingerprint(base)


def test_packaged_quickstart_validates(tmp_path):
    from importlib import resources

    text = resources.files("ragdistill.stages.embedder").joinpath("quickstart.toml").read_text()
    (tmp_path / "q.toml").write_text(text)
    recipe = load_recipe(tmp_path / "q.toml")
    assert recipe.stage == "embedder" and recipe.teacher.options["model"] == "all-mpnet-base-v2"
    assert recipe.student.options["model"] == "all-MiniLM-L6-v2"
    assert recipe.data.options == {"other_domain_queries": True}
    assert recipe.evaluate.throughput_repeats == 1  # one pass a round, as the default
    assert recipe.train.group_by_length


def test_teacher_pairs_is_an_embedder_stage_option(tmp_path):
    data = load_recipe(write(tmp_path, GOOD)).model_dump(mode="json")
    assert parse_recipe({**data, "embedder": {"teacher_pairs": True}}).stage_options == {
        "teacher_pairs": True
    }
    old_place = {**data, "train": {**data["train"], "teacher_pairs": True}}
    with pytest.raises(
        ConfigError,
        match=r"train\.teacher_pairs is now an option of the embedder stage: move it as "
        r"`teacher_pairs = \.\.\.` under \[embedder\]",
    ):
        parse_recipe(old_place)
    reranker = {**old_place, "stage": "reranker", "losses": [{"name": "margin-mse"}]}
    with pytest.raises(ConfigError, match=r"remove it from this reranker recipe"):
        parse_recipe(reranker)
    with pytest.raises(ConfigError, match=r"embedder\.teacher_pair: unknown key"):
        parse_recipe({**data, "embedder": {"teacher_pair": True}})


def _old_fingerprint(data: dict) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def test_a_moved_or_later_option_keeps_the_old_fingerprint(tmp_path):
    recipe = load_recipe(write(tmp_path, GOOD))
    data = recipe.model_dump(mode="json", exclude={"output", "evaluate", "cache_dir", "name"})
    data.pop("stage_options")  # a recipe fingerprinted before teacher_pairs existed
    data.pop("plugins")  # nor [plugins.*] tables
    data["train"].pop("callbacks")  # nor train.callbacks
    assert recipe_fingerprint(recipe) == _old_fingerprint(data)
    paired = parse_recipe({**recipe.model_dump(mode="json"), "embedder": {"teacher_pairs": True}})
    # Hashed where [train] kept it before the embedder stage owned it.
    data["train"]["teacher_pairs"] = True
    assert recipe_fingerprint(paired) == _old_fingerprint(data)
