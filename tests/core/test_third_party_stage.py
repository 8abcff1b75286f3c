"""A stage ragdistill has never heard of, installed as a real plugin distribution.

``lexicon_plugin.py`` (with ``lexicon_training.py``) is installed per test as the
distribution ``rd-lexicon``, found through its ``ragdistill`` entry point; nothing in
``src/ragdistill`` names it. Through the public hooks alone it adds a stage, two
teachers, a student, a loss and a dataset, and then recipes, ``ragdistill distill``,
artifact loading, ``ragdistill ab lexicon`` and ``ragdistill plugins`` all work for it.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from ragdistill import plugins
from ragdistill.artifacts import read_manifest
from ragdistill.cli import build_cli
from ragdistill.loading import load_component
from ragdistill.testing.stages import StageContract
from tests.core.fake_dists import PluginInstaller

HERE = Path(__file__).parent
#: The plugin's modules, by the names they are installed under.
MODULES = {
    "rd_lexicon": HERE / "lexicon_plugin.py",
    "rd_lexicon_training": HERE / "lexicon_training.py",
}
VOCAB = (  # noqa: SIM905 (a list of 40 words is longer, no clearer)
    "river stone light house garden market winter paper silver music window doctor "
    "forest engine letter bridge castle island planet violin harbor lantern meadow "
    "quartz saddle thimble walrus zephyr yodel juniper kiosk nectar oboe pylon quiver "
    "rhubarb sextant tundra umber vellum"
).split()


@pytest.fixture(autouse=True)
def lexicon_plugin(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    """``rd-lexicon`` installed for one test; the process-wide plugin manager reset
    before and after, so the next test sees only what it installs."""
    monkeypatch.delenv(plugins.LOAD_ENV, raising=False)
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    installer = PluginInstaller(tmp_path_factory.mktemp("site-packages"), monkeypatch)
    for name in MODULES:
        sys.modules.pop(name, None)  # a previous test's copy
    (installer.root / "rd_lexicon_training.py").write_text(
        MODULES["rd_lexicon_training"].read_text()
    )
    installer.install(
        "rd-lexicon",
        entry_name="lexicon",
        module="rd_lexicon",
        source=MODULES["rd_lexicon"].read_text(),
    )
    plugins.reset()
    plugins.default_plugin_manager()  # loads the entry point: imports rd_lexicon
    yield sys.modules["rd_lexicon"]
    plugins.reset()
    for name in MODULES:
        sys.modules.pop(name, None)


def write_tiny_recipe(root: Path, **train: object) -> Path:
    """A corpus for the teacher, 120 texts to distill on and a recipe that trains in
    about a second; ``train`` overrides ``[train]`` keys."""
    rng = random.Random(7)
    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    for d in range(30):
        # Word r appears in about 1 / (1 + r / 3) of the documents: a wide spread of IDFs.
        words = [w for r, w in enumerate(VOCAB) if rng.random() < 1 / (1 + r / 3)]
        (corpus / f"doc{d:02d}.txt").write_text(" ".join(words) + "\n")
    lines = [" ".join(rng.choices(VOCAB, k=rng.randint(3, 9))) for _ in range(120)]
    (root / "texts.txt").write_text("\n".join(lines) + "\n")
    settings = {
        "epochs": 30, "batch_size": 10, "learning_rate": 0.05, "weight_decay": 0.0,
        "warmup_ratio": 0.0, "seed": 3, **train,
    }  # fmt: skip
    recipe = root / "recipe.toml"
    recipe.write_text(
        f"""\
stage = "lexicon"
name = "tiny-lexicon"
output = "{root / "run"}"

[teacher]
kind = "idf"
model = "{corpus}"

[student]
kind = "hashed-bow"
buckets = 1024

[data]
dataset = "lines"
path = "{root / "texts.txt"}"

[[losses]]
name = "lexicon-mse"

[train]
{chr(10).join(f"{k} = {json.dumps(v)}" for k, v in settings.items())}

[evaluate]
bootstrap = 200

[lexicon]
holdout = 0.25
"""
    )
    return recipe


def invoke(*args: str) -> str:
    result = CliRunner().invoke(build_cli(), list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def printed(output: str, label: str) -> Path:
    [line] = [line for line in output.splitlines() if line.startswith(label)]
    return Path(line[len(label) :].strip())


# -- (a) recipes -------------------------------------------------------------------------


def test_recipe_validates_and_a_typo_in_the_stage_table_names_the_key(tmp_path: Path) -> None:
    recipe = write_tiny_recipe(tmp_path)
    assert "valid lexicon recipe 'tiny-lexicon'" in invoke("distill", str(recipe), "--check")

    recipe.write_text(recipe.read_text().replace("holdout = 0.25", "holdot = 0.25"))
    result = CliRunner().invoke(build_cli(), ["distill", str(recipe), "--check"])
    assert result.exit_code == 1
    assert "lexicon.holdot: unknown key; did you mean 'holdout'?" in result.output
    assert "Traceback" not in result.output


def test_recipe_refuses_a_loss_of_another_stage_and_a_bad_loss_option(tmp_path: Path) -> None:
    recipe = write_tiny_recipe(tmp_path)
    text = recipe.read_text()
    recipe.write_text(text.replace('name = "lexicon-mse"', 'name = "mse"'))
    result = CliRunner().invoke(build_cli(), ["distill", str(recipe), "--check"])
    assert result.exit_code == 1
    assert "loss 'mse' distills the embedder stage" in result.output
    assert "use one of: lexicon-mse" in result.output

    recipe.write_text(text.replace('name = "lexicon-mse"', 'name = "lexicon-mse"\ndelta = -1'))
    result = CliRunner().invoke(build_cli(), ["distill", str(recipe), "--check"])
    assert result.exit_code == 1 and "losses[0].delta: must be > 0" in result.output


# -- (b) distillation end to end ---------------------------------------------------------


def test_distill_trains_a_loadable_student_and_writes_the_ab(
    tmp_path: Path, lexicon_plugin: ModuleType
) -> None:
    from safetensors.torch import load_file

    from ragdistill.distill.checkpoint import latest_checkpoint

    recipe = write_tiny_recipe(tmp_path)
    output = invoke("distill", str(recipe), "-q")
    artifact = printed(output, "student artifact: ")
    assert artifact == tmp_path / "run" / "student"
    manifest = read_manifest(artifact)
    assert manifest is not None
    assert (manifest["stage"], manifest["loader"]) == ("lexicon", "weights")
    assert manifest["metrics"]["train/steps"] == 30 * 9  # 90 training texts, batches of 10

    # The artifact loads through the registry as the stage's contract...
    component = load_component(artifact, stage="lexicon")
    assert isinstance(component, lexicon_plugin.Lexicon)
    assert isinstance(component, lexicon_plugin.WeightsLexicon)
    # ...and scores exactly as the trained student does (its last checkpoint's weights).
    model = lexicon_plugin.HashedBowStudent(buckets=1024).build()
    weights = load_file(latest_checkpoint(tmp_path / "run" / "checkpoints") / "model.safetensors")
    model.load_state_dict(
        {k[len("student.") :]: v for k, v in weights.items() if k.startswith("student.")}
    )
    texts = (tmp_path / "texts.txt").read_text().splitlines()
    assert component.score_many(texts) == pytest.approx(model(texts).tolist(), abs=1e-5)

    # The A/B: the student learned the teacher; before distillation it had not.
    report = printed(output, "A/B report: ")
    assert report == tmp_path / "run" / "ab" / "report.html"
    assert "<h1>Lexicon A/B</h1>" in report.read_text()
    ab = json.loads((report.parent / "ab.json").read_text())
    student, baseline = ab["arms"]["student"]["metrics"], ab["arms"]["baseline"]["metrics"]
    assert ab["texts"] == 30
    assert student["mae"] < 0.1 < 1.0 < baseline["mae"]
    assert student["spearman"] > 0.9 and student["pair_agreement"] > 0.85
    versus_baseline = next(c for c in ab["comparisons"] if c["reference"] == "baseline")
    assert versus_baseline["high"] < 0  # the student's error is lower, beyond noise
    assert read_manifest(artifact)["metrics"]["ab/mae"] == student["mae"]

    # A re-run resumes from the last checkpoint and re-saves the same weights.
    before = (artifact / "lexicon.json").read_bytes()
    again = invoke("distill", str(recipe), "-q", "--no-ab")
    assert "resuming from checkpoint step-00000270" in again
    assert (artifact / "lexicon.json").read_bytes() == before


# -- (c) ragdistill plugins --------------------------------------------------------------


def test_plugins_lists_the_plugin_and_its_stage() -> None:
    text = invoke("plugins")
    assert "lexicon (rd-lexicon 1.2.3)" in text
    for line in (
        "  hooks: register_datasets, register_losses, register_stages, register_students, "
        "register_teachers",
        "  stage: lexicon",
        "  lexicon teacher: idf",
        "  lexicon teacher: weights",
        "  lexicon student: hashed-bow",
        "  lexicon loss: lexicon-mse",
        "  dataset: lines",
    ):
        assert line in text.splitlines(), text

    data = json.loads(invoke("plugins", "--json"))
    [plugin] = [p for p in data["plugins"] if p["name"] == "lexicon"]
    assert (plugin["distribution"], plugin["version"], plugin["builtin"]) == (
        "rd-lexicon",
        "1.2.3",
        False,
    )
    assert {"kind": "stage", "stage": None, "name": "lexicon"} in plugin["registers"]
    assert {"kind": "student", "stage": "lexicon", "name": "hashed-bow"} in plugin["registers"]
    assert not data["failed"]


# -- (d) ragdistill ab lexicon -----------------------------------------------------------


def test_ab_lexicon_is_a_subcommand_of_ab() -> None:
    assert "lexicon" in invoke("ab", "--help")
    help_text = invoke("ab", "lexicon", "--help")
    assert "Lexicon A/B" in help_text and "--teacher" in help_text


def test_ab_lexicon_compares_any_teacher_and_student(tmp_path: Path) -> None:
    from ragdistill.distill import run_recipe

    recipe = write_tiny_recipe(tmp_path, epochs=10)
    artifact = run_recipe(recipe, show_progress=False)
    held_out = tmp_path / "held_out.txt"
    held_out.write_text("river stone kiosk\nzephyr yodel oboe vellum\nlight house\n")
    out = tmp_path / "ab"
    output = invoke(
        "ab", "lexicon", "--teacher", f"idf:{tmp_path / 'corpus'}", "--student", str(artifact),
        "--baseline", str(tmp_path / "run" / "baseline"), "--texts", str(held_out),
        "--out", str(out), "--n-bootstrap", "100",
    )  # fmt: skip
    assert "lexicon A/B on 3 held-out texts" in output
    ab = json.loads((out / "ab.json").read_text())
    assert set(ab["arms"]) == {"student", "baseline"}
    # The "before" arm is a plain saved student without a manifest: found by folder_match.
    assert ab["arms"]["baseline"]["component"]["class"].endswith("WeightsLexicon")
    assert (out / "report.html").is_file()


# -- (e) the stage contract suite --------------------------------------------------------


class TestLexiconStage(StageContract):
    """The suite the built-in stages pass, on the plugin's stage (installed per test by
    the module's autouse fixture), with a tiny recipe for the end-to-end tests."""

    @pytest.fixture
    def stage_name(self) -> str:
        return "lexicon"

    @pytest.fixture
    def tiny_recipe(self, tmp_path: Path) -> Path:
        return write_tiny_recipe(tmp_path)
