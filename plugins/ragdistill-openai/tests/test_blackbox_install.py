"""Black-box: install the core and this plugin into a fresh virtualenv, as a user would.

Nothing from the test process leaks in: the venv has its own site-packages, the
commands run from an empty folder, and the plugin is found only through its installed
entry point. Kept fast: the venv is made without pip (the running pip installs into it
with ``--python``), both projects go in one resolver run, and nothing is byte-compiled
ahead of time. The pip cache and any configured wheel mirrors are reused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from fake_server import EMBEDDINGS, FakeOpenAIServer

PLUGIN_DIR = Path(__file__).resolve().parents[1]
CORE_DIR = PLUGIN_DIR.parents[1]
STAGES = {"embedder", "reranker", "query_transformer", "generator"}

USE_TEACHER = """
import json, sys
from ragdistill.registry import default_registry
import ragdistill_openai

cls = default_registry().teacher("embedder", "openai")
embedder = cls.from_options(
    {"model": "tiny", "base_url": sys.argv[1], "cache": False}, where="teacher.options"
)
vectors = embedder.embed_many(["first text", "second text"])
print(json.dumps({
    "class": cls.__name__,
    "shape": list(vectors.shape),
    "dtype": str(vectors.dtype),
    "file": ragdistill_openai.__file__,
}))
"""


def test_install_list_use_and_uninstall(tmp_path: Path, server: FakeOpenAIServer) -> None:
    assert (CORE_DIR / "pyproject.toml").read_text().count('name = "ragdistill"') == 1
    env = _clean_env(tmp_path)
    venv = tmp_path / "venv"
    pip = _make_venv(venv, env)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python, cli = bin_dir / "python", bin_dir / "ragdistill"

    _run([*pip, "install", "--no-compile", str(CORE_DIR), str(PLUGIN_DIR)], env, tmp_path)

    report = _plugins_json(cli, env, tmp_path)
    assert report["failed"] == [], report
    entry = next((p for p in report["plugins"] if p["name"] == "openai"), None)
    assert entry is not None, f"'openai' not listed by `ragdistill plugins --json`: {report}"
    assert entry["distribution"] == "ragdistill-openai"
    assert entry["version"] == "0.1.0" and entry["builtin"] is False
    assert entry["hooks"] == ["register_teachers"]
    registers = {(r["kind"], r["stage"], r["name"]) for r in entry["registers"]}
    assert registers == {("teacher", stage, "openai") for stage in STAGES}

    out = _run([str(python), "-c", USE_TEACHER, server.url], env, tmp_path)
    used = json.loads(out.strip().splitlines()[-1])
    assert used["class"] == "OpenAIEmbedder"
    assert used["shape"] == [2, 8] and used["dtype"] == "float32"
    assert Path(used["file"]).resolve().is_relative_to(venv.resolve())  # not the source tree
    assert server.state.counts[EMBEDDINGS] == 1

    _run([*pip, "uninstall", "-y", "ragdistill-openai"], env, tmp_path)
    report = _plugins_json(cli, env, tmp_path)
    assert "openai" not in {p["name"] for p in report["plugins"]}, report
    assert report["failed"] == [], report


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
        and not k.startswith("RAGDISTILL_")
    }
    env.update(
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PYTHONNOUSERSITE="1",
        RAGDISTILL_HOME=str(tmp_path / "home"),
    )
    return env


def _make_venv(venv: Path, env: dict[str, str]) -> list[str]:
    """Create ``venv``; return the pip command line that installs into it."""
    if _version(metadata.version("pip")) >= (22, 3):
        # No ensurepip (the slowest part of venv creation): this pip targets the venv.
        _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env, venv.parent)
        python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        return [sys.executable, "-m", "pip", "--python", str(python)]
    _run([sys.executable, "-m", "venv", str(venv)], env, venv.parent)
    return [str(venv / "bin" / "python"), "-m", "pip"]


def _plugins_json(cli: Path, env: dict[str, str], cwd: Path) -> dict:
    out = _run([str(cli), "plugins", "--json"], env, cwd)
    return json.loads(out)


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (
        f"{' '.join(cmd[:6])}... exited {result.returncode}\n"
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    )
    return result.stdout


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())
