"""One run per output folder: a second process is refused at once, naming the holder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from importlib import resources

import pytest
from click.testing import CliRunner

from ragdistill.cli import build_cli
from ragdistill.distill.lock import LOCK_NAME, PID_NAME, OutputInUseError, hold_output

HOLDER = """
import sys
from ragdistill.distill.lock import hold_output
with hold_output(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def hold_in_another_process(folder) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "held\n"
    return proc


def release(proc: subprocess.Popen[str]) -> None:
    out, _ = proc.communicate("\n", timeout=60)
    assert out == "released\n" and proc.returncode == 0


def test_second_process_is_refused_at_once_naming_folder_and_pid(tmp_path):
    folder = tmp_path / "run"
    holder = hold_in_another_process(folder)
    try:
        started = time.perf_counter()
        with pytest.raises(OutputInUseError) as refused, hold_output(folder):
            pytest.fail("entered a folder another process holds")
        assert time.perf_counter() - started < 2
        message = str(refused.value)
        assert "\n" not in message
        assert f"output folder {folder.resolve()} is in use by process {holder.pid}" in message
    finally:
        release(holder)
    with hold_output(folder) as held:  # free again once the holder is done
        assert (held / PID_NAME).read_text().strip() == str(os.getpid())
    assert not (folder / PID_NAME).exists()


def test_a_killed_run_does_not_block_the_next(tmp_path):
    holder = hold_in_another_process(tmp_path)
    holder.kill()  # kill -9: no cleanup runs, the lock and pid files stay behind
    holder.wait()
    assert (tmp_path / LOCK_NAME).exists() and (tmp_path / PID_NAME).exists()
    with hold_output(tmp_path):
        pass


def test_released_on_exception_and_reentrant_in_one_process(tmp_path):
    with pytest.raises(ValueError, match="boom"), hold_output(tmp_path):
        with hold_output(tmp_path):  # run_recipe inside a command that holds the folder
            pass
        raise ValueError("boom")
    release(hold_in_another_process(tmp_path))


def test_distill_cli_refuses_an_output_folder_in_use(tmp_path):
    text = resources.files("ragdistill.stages.reranker").joinpath("quickstart.toml").read_text()
    output = tmp_path / "out"
    text = text.replace('output = "runs/reranker-quickstart"', f'output = "{output}"')
    (tmp_path / "r.toml").write_text(text)
    holder = hold_in_another_process(output)
    try:
        started = time.perf_counter()
        result = CliRunner().invoke(build_cli(), ["distill", str(tmp_path / "r.toml"), "-q"])
        assert time.perf_counter() - started < 20  # refused before any model loads
    finally:
        release(holder)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"Error: output folder {output.resolve()} is in use by process ")
    assert str(holder.pid) in line
