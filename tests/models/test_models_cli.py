"""``ragdistill models`` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from ragdistill.cli.models_cmd import models


def run(*args: str):
    return CliRunner().invoke(models, list(args), catch_exceptions=False)


def test_list_verify_path_rm(tiny_model, home: Path) -> None:
    folder = tiny_model("tiny")
    result = run("list")
    assert result.exit_code == 0 and "tiny" in result.output and "test" in result.output
    data = json.loads(run("list", "--json").output)
    assert [m["name"] for m in data] == ["tiny"] and data[0]["files"] == 3

    result = run("verify", "tiny")
    assert result.exit_code == 0 and "OK tiny: 3 files" in result.output
    assert run("path", "tiny").output.strip() == str(folder)

    (folder / "config.json").write_text('{"model_type": "gpt2"}')
    result = run("verify", "tiny")
    assert result.exit_code == 1
    assert "Error:" in result.output and "config.json" in result.output
    assert "Traceback" not in result.output

    assert run("rm", "tiny").exit_code == 0
    result = run("rm", "tiny")
    assert result.exit_code == 1 and "not in the model cache" in result.output
    assert "No models cached" in run("list").output


def test_list_available_shows_the_catalog(home: Path) -> None:
    result = run("list", "--available")
    assert result.exit_code == 0
    for name in ("all-MiniLM-L6-v2", "all-mpnet-base-v2", "Qwen2.5-Coder-0.5B-Instruct"):
        assert name in result.output
    catalog = json.loads(run("list", "--available", "--json").output)
    assert catalog["SmolLM2-135M-Instruct"]["kind"] == "causal-lm"


def test_errors_are_one_line_without_traceback(home: Path) -> None:
    result = run("pull", "hf:org/model")
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot fetch 'org/model'")
    result = run("path", "all-MiniLM-L6-v2")
    assert result.exit_code == 1 and "ragdistill models pull all-MiniLM-L6-v2" in result.output
    result = run("verify", "nothing-here")
    assert result.exit_code == 1 and "not in the model cache" in result.output
