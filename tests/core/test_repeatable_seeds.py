"""Same recipe, same seed: bit-identical artifacts, whether the run was killed or not
(#19 item 11). The student's random initialisation (the ``projection_dim`` Dense layer)
draws from the recipe's seed, not from whatever the process's RNG holds."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragdistill import plugins
from tests.core.fake_dists import PluginInstaller
from tests.core.tiny_beir import tiny_recipe, write_tiny_beir

STOPPER_PLUGIN = """
from ragdistill.callbacks import TrainingCallback
from ragdistill.hookspecs import hookimpl


class StopAfterFirstStep(TrainingCallback):
    \"\"\"Ends the run after its first step, before any checkpoint: a kill, in-process.\"\"\"

    def on_step(self, step, record):
        raise RuntimeError(f"killed after step {step}")


@hookimpl
def register_callbacks(register):
    register("stop-after-first-step", StopAfterFirstStep)
"""


@pytest.fixture
def stopper_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``rd-stopper`` installed as a real distribution; the process-wide manager reset."""
    monkeypatch.delenv(plugins.LOAD_ENV, raising=False)
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    (tmp_path / "site").mkdir()
    PluginInstaller(tmp_path / "site", monkeypatch).install(
        "rd-stopper", entry_name="stopper", module="rd_stopper", source=STOPPER_PLUGIN
    )
    plugins.reset()
    try:
        yield
    finally:
        plugins.reset()
        sys.modules.pop("rd_stopper", None)


def write_recipe(
    root: Path, student: Path, data: Path, *, projection: bool, seed: int = 42, stop: bool = False
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = tiny_recipe(root, student, student, data, extra="ab = false")
    text = path.read_text().replace("epochs = 3", f"epochs = 1\nmax_steps = 4\nseed = {seed}")
    if not projection:
        text = text.replace("projection_dim = 16\n", "")
    if stop:
        text = text.replace("[train]\n", '[train]\ncallbacks = ["stop-after-first-step"]\n')
    path.write_text(text)
    return path


def weight_files(folder: Path) -> dict[str, str]:
    """The sha256 of every safetensors file of a saved model (its raw bytes), by path."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.safetensors"))
    }


@pytest.mark.parametrize("projection", [True, False], ids=["projection", "no-projection"])
def test_same_recipe_and_seed_give_bit_identical_artifacts_killed_or_not(
    tmp_path, tiny_st_path, stopper_plugin, projection
):
    from ragdistill.distill import run_recipe

    data = write_tiny_beir(tmp_path / "beir")
    # An unbroken run, then the same recipe run again in the same process (whose RNG the
    # first run has moved on) and killed after its first step, before any checkpoint.
    first = run_recipe(
        write_recipe(tmp_path / "a", tiny_st_path, data, projection=projection),
        show_progress=False,
    )
    killed = write_recipe(tmp_path / "b", tiny_st_path, data, projection=projection, stop=True)
    with pytest.raises(RuntimeError, match="killed after step 1"):
        run_recipe(killed, show_progress=False)
    out_b = tmp_path / "b" / "out"
    assert (out_b / "baseline").is_dir() and not any((out_b / "checkpoints").glob("step-*"))
    resumed = run_recipe(
        write_recipe(tmp_path / "b", tiny_st_path, data, projection=projection),
        show_progress=False,
    )

    files = weight_files(first)
    if projection:
        assert any(name.endswith("Dense/model.safetensors") for name in files), files.keys()
    assert weight_files(resumed) == files
    # The saved "before" student is the one the resumed run trained from.
    assert weight_files(out_b / "baseline") == weight_files(tmp_path / "a" / "out" / "baseline")


def test_the_projection_follows_the_seed(tmp_path, tiny_st_path):
    from ragdistill.distill import run_recipe

    data = write_tiny_beir(tmp_path / "beir")
    baselines = []
    for name, seed in (("a", 42), ("b", 7)):
        run_recipe(
            write_recipe(tmp_path / name, tiny_st_path, data, projection=True, seed=seed),
            show_progress=False,
        )
        baselines.append(weight_files(tmp_path / name / "out" / "baseline"))
    dense = [name for name in baselines[0] if name.endswith("Dense/model.safetensors")]
    assert dense and baselines[0][dense[0]] != baselines[1][dense[0]]
