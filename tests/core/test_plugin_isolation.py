"""One broken plugin never takes the tool down (issue #18).

Every kind of breakage is installed as a real distribution (``fake_dists``); then
``ragdistill plugins`` still exits 0 and lists the plugin as FAILED with its reason, a
healthy plugin and the built-ins still work, and so does an unrelated command.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ragdistill import plugins
from ragdistill.cli import build_cli
from ragdistill.errors import UnknownNameError
from ragdistill.registry import default_registry
from tests.core.fake_dists import EMBEDDER_PLUGIN, PluginInstaller

#: A healthy plugin installed beside each broken one: it must keep working.
GOOD = EMBEDDER_PLUGIN.replace("{name}", "good-length")
#: What every broken plugin registers before its mistake: it must be dropped too.
BROKEN_HEAD = EMBEDDER_PLUGIN.replace("{name}", "broken-length")


@pytest.fixture
def installer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginInstaller]:
    """Installs plugins for one test; the process-wide manager is rebuilt around it."""
    monkeypatch.delenv(plugins.LOAD_ENV, raising=False)
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    (tmp_path / "site").mkdir()
    installer = PluginInstaller(tmp_path / "site", monkeypatch)
    plugins.reset()
    yield installer
    plugins.reset()


def install(installer: PluginInstaller, name: str, source: str) -> None:
    module = f"rd_{name.replace('-', '_')}"
    installer.install(f"rd-{name}", entry_name=name, module=module, source=source)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(build_cli(), list(args))


def assert_tool_still_works(tmp_path: Path) -> None:
    """The built-ins, the healthy plugin and an unrelated command are unaffected."""
    registry = default_registry()
    assert registry.teacher("embedder", "good-length")
    assert registry.loss("mse").__module__.startswith("ragdistill.stages.embedder")
    assert registry.student("embedder", "sentence-transformers")
    recipe = tmp_path / "r.toml"
    quickstart = resources.files("ragdistill.stages.reranker").joinpath("quickstart.toml")
    recipe.write_text(quickstart.read_text())
    result = invoke("distill", str(recipe), "--check")
    assert result.exit_code == 0 and "valid reranker recipe" in result.output, result.output


def assert_listed_as_failed(name: str, reason: str) -> str:
    result = invoke("plugins")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert "good (rd-good 1.2.3)" in lines
    assert not [ln for ln in lines if ln.startswith(f"{name} (")]  # not listed as working
    [line] = [ln for ln in lines if ln.startswith(f"FAILED {name} ")]
    assert line.startswith(f"FAILED {name} (rd-{name}): ") and re.search(reason, line), line
    return line


# -- registering something invalid: the whole plugin is dropped ----------------------------

REGISTRATION_MISTAKES = {
    "duplicate": (
        """
@hookimpl
def register_losses(register):
    from ragdistill.stages.embedder.losses.mse import EmbeddingMSELoss
    register("mse", EmbeddingMSELoss)
""",
        r"duplicate loss name 'mse': registered by plugin 'ragdistill\.stages\.embedder\.plugin'"
        r" and by plugin 'broken'",
    ),
    "raises": (
        """
@hookimpl
def register_losses(register):
    raise RuntimeError("boom")
""",
        r"plugin 'broken': its register_losses hook raised RuntimeError: boom",
    ),
    "wrong-class": (
        """
@hookimpl
def register_students(register):
    register("odd", dict)
""",
        r"register_students\('odd', dict\) must register a subclass of ragdistill\.students",
    ),
    "loss-without-stage": (
        """
@hookimpl
def register_losses(register):
    from ragdistill.losses.base import DistillationLoss

    class NoStage(DistillationLoss):
        def forward(self, student, teacher, **batch):
            return ((student - teacher) ** 2).mean()

    register("no-stage", NoStage)
""",
        r"plugin 'broken': loss 'no-stage' \(.*NoStage\) has no stage; set its class "
        r"attribute `stage`",
    ),
}


@pytest.mark.parametrize("mistake", list(REGISTRATION_MISTAKES))
def test_a_plugin_that_registers_something_invalid_is_dropped_whole(
    installer: PluginInstaller, tmp_path: Path, mistake: str
) -> None:
    tail, reason = REGISTRATION_MISTAKES[mistake]
    install(installer, "broken", BROKEN_HEAD + tail)
    install(installer, "good", GOOD)
    registry = default_registry()
    [failed] = registry.failed
    assert (failed.name, failed.distribution) == ("broken", "rd-broken")
    assert re.search(reason, failed.error), failed.error
    # Its valid teacher, registered before the mistake, is gone with it.
    assert not registry.by_plugin("broken")
    with pytest.raises(UnknownNameError):
        registry.teacher("embedder", "broken-length")
    assert_listed_as_failed("broken", reason)
    assert_tool_still_works(tmp_path)


# -- breakage found while loading: the plugin is not loaded --------------------------------

LOAD_MISTAKES = {
    # pluggy's PluginValidationError at pm.register, with a long traceback, before #18.
    "misnamed-argument": (
        "\n@hookimpl\ndef register_datasets(reg):\n    pass\n",
        r"its register_datasets hook takes 'reg', but register_datasets passes 'register': "
        r"define it as def register_datasets\(register\)",
    ),
    "unknown-hook": (
        "\n@hookimpl\ndef register_loss(register):\n    pass\n",
        r"implements unknown hook 'register_loss' \(did you mean 'register_losses'\?\)",
    ),
}


@pytest.mark.parametrize("mistake", list(LOAD_MISTAKES))
def test_a_plugin_whose_hooks_do_not_match_is_skipped(
    installer: PluginInstaller, tmp_path: Path, mistake: str
) -> None:
    tail, reason = LOAD_MISTAKES[mistake]
    install(installer, "broken", BROKEN_HEAD + tail)
    install(installer, "good", GOOD)
    pm = plugins.default_plugin_manager()
    assert not pm.has_plugin("broken") and "broken" not in pm.report.loaded
    [failed] = pm.report.failed
    assert failed.distribution == "rd-broken" and "\n" not in failed.error
    assert re.search(reason, failed.error), failed.error
    help_text = invoke("--help")
    assert help_text.exit_code == 0 and "Traceback" not in help_text.output
    assert_listed_as_failed("broken", reason)
    assert_tool_still_works(tmp_path)


# -- two distributions, one entry-point name -------------------------------------------------


def install_twins(installer: PluginInstaller) -> None:
    for dist in ("rd-beta", "rd-alpha"):
        installer.install(
            dist,
            entry_name="dup",
            module=dist.replace("-", "_"),
            source=EMBEDDER_PLUGIN.replace("{name}", f"{dist}-length"),
        )


def test_a_second_distribution_with_a_taken_name_fails_naming_both(
    installer: PluginInstaller,
) -> None:
    install_twins(installer)
    pm = plugins.default_plugin_manager()
    assert pm.report.loaded["dup"].distribution == "rd-alpha"  # the first by distribution
    [failed] = pm.report.failed
    assert (failed.name, failed.distribution) == ("dup", "rd-beta")
    assert "'rd-alpha' (kept) and 'rd-beta' (skipped)" in failed.error
    assert "RAGDISTILL_DISABLE_PLUGINS=rd-beta:dup" in failed.error
    assert default_registry().teacher("embedder", "rd-alpha-length")
    result = invoke("plugins")
    assert result.exit_code == 0 and "FAILED dup (rd-beta): " in result.output


@pytest.mark.parametrize(
    ("variable", "value", "loaded_from"),
    [
        (plugins.DISABLE_ENV, "rd-alpha:dup", "rd-beta"),
        (plugins.LOAD_ENV, "rd_Beta:dup", "rd-beta"),  # distribution names are normalised
        (plugins.LOAD_ENV, "rd-alpha:dup", "rd-alpha"),
        (plugins.DISABLE_ENV, "dup", None),  # a plain name selects both
    ],
)
def test_distribution_colon_name_picks_one_of_two(
    installer: PluginInstaller, variable: str, value: str, loaded_from: str | None
) -> None:
    install_twins(installer)
    pm = plugins.get_plugin_manager(env={variable: value})
    assert not pm.report.failed
    info = pm.report.loaded.get("dup")
    assert (info.distribution if info else None) == loaded_from


def test_unknown_names_in_the_selection_variables_are_warned_about(
    installer: PluginInstaller, caplog: pytest.LogCaptureFixture
) -> None:
    install_twins(installer)
    plugins.get_plugin_manager(
        env={plugins.LOAD_ENV: "dup, nosuch", plugins.DISABLE_ENV: "rd-zeta:dup, rd-alpha:dup"}
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("RAGDISTILL_LOAD_PLUGINS names 'nosuch'" in w for w in warnings), warnings
    assert any("RAGDISTILL_DISABLE_PLUGINS names 'rd-zeta:dup'" in w for w in warnings)
    assert not any("'rd-alpha:dup'" in w or "names 'dup'" in w for w in warnings)


# -- commands --------------------------------------------------------------------------------

COMMANDS = """
import click
from ragdistill.hookspecs import hookimpl


@hookimpl
def register_commands(cli):
{body}
"""


def command(name: str, says: str) -> str:
    return (
        f"    @cli.command({name!r})\n"
        f"    def _{name.replace('-', '_')}():\n"
        f"        click.echo({says!r})\n"
    )


def test_a_command_name_clash_keeps_the_first_and_is_reported(
    installer: PluginInstaller, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    body_a = command("hello", "from a") + command("distill", "hijacked")
    install(installer, "cmd-a", COMMANDS.format(body=body_a))
    install(
        installer, "cmd-b", COMMANDS.format(body=command("hello", "from b") + command("bye", "b"))
    )
    body_c = command("half", "c") + "    raise RuntimeError('boom')\n"
    install(installer, "cmd-c", COMMANDS.format(body=body_c))
    install(installer, "good", GOOD)

    assert invoke("hello").output == "from a\n"
    assert invoke("bye").output == "b\n"  # cmd-b's other command is kept
    assert "hijacked" not in invoke("distill", "--help").output  # the built-in is kept
    assert invoke("half").exit_code != 0  # a hook that raised loses all its commands
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    assert re.search(r"'cmd-b'.*refused.*'hello'.*'cmd-a'", warnings), warnings
    assert re.search(
        r"'cmd-a'.*refused.*'distill'.*'ragdistill.default_plugins.commands'", warnings
    )

    result = invoke("plugins")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "FAILED command of cmd-b (rd-cmd-b): it adds the command 'hello', which plugin " in text
    assert (
        "FAILED command of cmd-c (rd-cmd-c): its register_commands hook raised RuntimeError" in text
    )
    a_block = text.split("cmd-a (rd-cmd-a 1.2.3)\n")[1].split("\ncmd-b")[0]
    assert "  command: hello" in a_block and "  command: distill" not in a_block
    data = json.loads(invoke("plugins", "--json").output)
    rows = {p["name"]: p for p in data["plugins"]}
    assert rows["cmd-b"]["commands"] == ["bye"]
    assert "plugins" in rows["ragdistill.default_plugins.commands"]["commands"]

    # Each build_cli() is a fresh group: nothing a plugin added outlives its manager.
    monkeypatch.setenv(plugins.LOAD_ENV, "")
    plugins.reset()
    assert "hello" not in build_cli().commands
