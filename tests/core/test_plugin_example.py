"""The plugin docs/plugins.md walks through, installed and used as its author would.

``tests/plugin_example`` is a complete plugin package (``ragdistill-bow``): a teacher, a
student with its loader, a loss, a dataset, a runtime and a command. Each test installs
it as a temporary distribution (the package plus a ``.dist-info`` folder written from its
``pyproject.toml``, on ``sys.path``), so ragdistill finds it through its entry point
alone. Then a tiny embedder distillation runs end to end with the plugin's runtime
loading the A/B arms, the plugin's own tests pass, and every code block of
docs/plugins.md is checked against the package's files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomllib
from click.testing import CliRunner

from ragdistill import hookspecs, plugins
from ragdistill.artifacts import read_manifest
from ragdistill.cli import build_cli
from ragdistill.errors import UnknownNameError
from ragdistill.loading import load_component
from ragdistill.registry import default_registry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "plugin_example"
DOC = ROOT / "docs" / "plugins.md"
#: Every file of the example package, by its path in the package (caches left out).
FILES = {
    p.relative_to(EXAMPLE).as_posix(): p
    for p in sorted(EXAMPLE.rglob("*"))
    if p.is_file() and p.suffix in (".py", ".toml", ".tsv") and p.name != "conftest.py"
}


def install(site: Path) -> None:
    """What ``pip install tests/plugin_example`` puts in site-packages, without pip."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    shutil.copytree(EXAMPLE / "src" / "ragdistill_bow", site / "ragdistill_bow")
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    points = project["entry-points"]["ragdistill"]
    (info / "entry_points.txt").write_text(
        "[ragdistill]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
    )


def forget_the_package() -> None:
    for name in [
        m for m in sys.modules if m == "ragdistill_bow" or m.startswith("ragdistill_bow.")
    ]:
        del sys.modules[name]


@pytest.fixture
def site(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """``ragdistill-bow`` installed for one test; the plugin manager rebuilt around it."""
    monkeypatch.delenv(plugins.LOAD_ENV, raising=False)
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    site = tmp_path_factory.mktemp("site-packages")
    install(site)
    monkeypatch.syspath_prepend(str(site))
    forget_the_package()
    plugins.reset()
    yield site
    plugins.reset()
    forget_the_package()


def invoke(*args: str) -> str:
    result = CliRunner().invoke(build_cli(), list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_each_kind_is_registered_and_listed(site: Path) -> None:
    data = json.loads(invoke("plugins", "--json"))
    assert not data["failed"]
    [bow] = [p for p in data["plugins"] if p["name"] == "bow"]
    assert (bow["distribution"], bow["version"], bow["builtin"]) == (
        "ragdistill-bow",
        "0.1.0",
        False,
    )
    registered = {(r["kind"], r["name"]) for r in bow["registers"]}
    assert registered == {
        ("teacher", "hashed-ngrams"), ("teacher", "bag-of-words"), ("student", "bag-of-words"),
        ("loss", "relational-mse"), ("dataset", "faq"), ("runtime", "audited"),
    }  # fmt: skip
    assert "nearest" in invoke("--help")


def test_a_tiny_distillation_runs_end_to_end_with_the_runtime_in_the_ab(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("recipe.toml", "faq.tsv"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    assert "valid embedder recipe" in invoke("distill", "recipe.toml", "--check")

    output = invoke("distill", "recipe.toml", "-q")
    run = tmp_path / "runs" / "faq"
    manifest = read_manifest(run / "student")
    assert manifest is not None
    assert (manifest["stage"], manifest["loader"]) == ("embedder", "bag-of-words")
    assert manifest["teacher"]["class"] == "ragdistill_bow.embedders.HashedNgramEmbedder"
    assert manifest["metrics"]["train/steps"] > 0
    assert "A/B report: " in output
    # The A/B loaded the student and the student before distillation through the runtime.
    audit = [
        json.loads(line) for line in (tmp_path / "runs" / "audit.jsonl").read_text().splitlines()
    ]
    assert [(Path(r["path"]).name, r["stage"], r["loader"]) for r in audit] == [
        ("student", "embedder", "bag-of-words"),
        ("baseline", "embedder", "bag-of-words"),
    ]
    assert all(r["manifest_sha256"] for r in audit)
    ab = json.loads((run / "ab" / "ab.json").read_text())
    assert set(ab["arms"]) == {"teacher", "student", "baseline"}
    ndcg = {arm: ab["arms"][arm]["metrics"]["ndcg@10"] for arm in ab["arms"]}
    assert ndcg["baseline"] < ndcg["student"] <= ndcg["teacher"]  # it learned from the teacher
    student = load_component(run / "student", "embedder")
    assert type(student).__name__ == "BagOfWordsEmbedder" and student.dimension == 32

    # The plugin's command, loading through its runtime.
    texts = tmp_path / "texts.txt"
    texts.write_text("Freeze a lost card in the app.\nSavings earn interest.\nOrder a new card.\n")
    found = invoke(
        "nearest", str(run / "student"), "I lost my card", "--texts", str(texts), "-k", "1",
        "--runtime", "audited", "--runtime-option", "log=runs/nearest.jsonl",
    )  # fmt: skip
    assert len(found.splitlines()) == 1 and "card" in found
    assert (tmp_path / "runs" / "nearest.jsonl").is_file()


def test_the_environment_variables_select_it(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for blocked in ("bow", "ragdistill-bow:bow"):
        monkeypatch.setenv(plugins.DISABLE_ENV, blocked)
        plugins.reset()
        with pytest.raises(UnknownNameError, match="no runtime named 'audited'"):
            default_registry().runtime("audited")
    monkeypatch.delenv(plugins.DISABLE_ENV)
    monkeypatch.setenv(plugins.LOAD_ENV, "bow")
    plugins.reset()
    assert default_registry().runtime("audited").__name__ == "AuditedRuntime"


def test_the_plugins_own_tests_pass(site: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    env.pop(plugins.LOAD_ENV, None)
    env.pop(plugins.DISABLE_ENV, None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\b\d+ passed\b", result.stdout) and "failed" not in result.stdout


# -- docs/plugins.md shows the package as it is --------------------------------------------


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", DOC.read_text(), flags=re.S | re.M)


def test_every_code_block_of_the_doc_is_in_the_package() -> None:
    files = {name: path.read_text() for name, path in FILES.items()}
    shown = [(lang, b) for lang in ("python", "toml", "text") for b in blocks(lang)]
    assert len(shown) >= 10
    for language, block in shown:
        assert any(block in text for text in files.values()), (
            f"this {language} block of docs/plugins.md is not in tests/plugin_example; "
            f"copy it from the package:\n{block}"
        )


def test_the_doc_shows_every_module_of_the_package_whole() -> None:
    shown = blocks("python") + blocks("toml")
    for name, path in FILES.items():
        if name.endswith((".py", "pyproject.toml")):
            assert path.read_text() in shown, f"docs/plugins.md must show {name} in full"


def test_the_doc_names_every_hook() -> None:
    text = DOC.read_text()
    missing = [hook for hook in hookspecs.hook_names() if f"`{hook}`" not in text]
    assert not missing, f"docs/plugins.md does not document {missing}"
