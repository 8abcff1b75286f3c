"""The command line: cheap to start, errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from ragdistill.cli import build_cli

HEAVY = ("torch", "transformers", "sentence_transformers", "chromadb", "httpx")


def test_help_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from ragdistill.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Commands:" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_every_builtin_command_has_help_without_heavy_imports():
    code = (
        "import sys\n"
        "from ragdistill.cli import build_cli\n"
        "cli = build_cli()\n"
        "from click.testing import CliRunner\n"
        "for name in cli.commands:\n"
        "    assert CliRunner().invoke(cli, [name, '--help']).exit_code == 0, name\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_plugins_json_lists_builtins_and_what_they_register():
    result = CliRunner().invoke(build_cli(), ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    names = {p["name"] for p in data["plugins"]}
    assert "ragdistill.stages.reranker.plugin" in names
    embedder = next(p for p in data["plugins"] if p["name"] == "ragdistill.stages.embedder.plugin")
    assert embedder["hooks"] == [
        "register_losses", "register_stages", "register_students", "register_teachers"
    ]  # fmt: skip
    registers = embedder["registers"]
    assert {"kind": "stage", "stage": None, "name": "embedder"} in registers
    assert {"kind": "student", "stage": "embedder", "name": "sentence-transformers"} in registers


def test_errors_print_without_traceback(tmp_path):
    result = CliRunner().invoke(build_cli(), ["distill", str(tmp_path / "missing.toml")])
    assert result.exit_code == 1
    assert "Error:" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output


def test_quickstart_names_the_stages_that_have_a_demo(tmp_path):
    result = CliRunner().invoke(build_cli(), ["quickstart", "retriever", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "no stage 'retriever' with a demo recipe; stages with one: embedder, reranker" in (
        result.output
    )


def test_distill_check_reports_the_stage_and_refuses_an_unknown_one(tmp_path):
    from importlib import resources

    text = resources.files("ragdistill.stages.reranker").joinpath("quickstart.toml").read_text()
    (tmp_path / "r.toml").write_text(text)
    result = CliRunner().invoke(build_cli(), ["distill", str(tmp_path / "r.toml"), "--check"])
    assert result.exit_code == 0 and "valid reranker recipe" in result.output
    (tmp_path / "g.toml").write_text(text.replace('stage = "reranker"', 'stage = "rerankr"'))
    result = CliRunner().invoke(build_cli(), ["distill", str(tmp_path / "g.toml"), "--check"])
    assert result.exit_code == 1
    assert "no stage named 'rerankr'; did you mean 'reranker'?" in result.output
    (tmp_path / "e.toml").write_text(text.replace('stage = "reranker"', 'stage = "embedder"'))
    result = CliRunner().invoke(build_cli(), ["distill", str(tmp_path / "e.toml"), "--check"])
    assert "[reranker] holds the reranker stage's options, but this is a embedder" not in (
        result.output
    )
    assert "[reranker] holds the reranker stage's options, but this is an embedder" in (
        result.output
    )


def test_plugins_lists_each_loss_with_its_stage_and_each_command() -> None:
    result = CliRunner().invoke(build_cli(), ["plugins", "--all"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for line in (
        "  embedder loss: mse",
        "  reranker loss: margin-mse",
        "  generator loss: logit-kl (also query_transformer)",
        "  command: distill",
        "  command: plugins",
    ):
        assert line in lines, result.output
