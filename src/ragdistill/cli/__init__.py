"""The ``ragdistill`` command line.

Every command, the built-in ones included, is added through the ``register_commands``
hook, after plugins load. Command modules import only click at module level, so
``ragdistill --help`` never imports torch or transformers.

:func:`build_cli` builds a fresh group each time and calls each plugin's
``register_commands`` in turn, so it knows which plugin added which command. A second
plugin adding a command name already taken does not replace it: the first keeps it
(the built-ins come first), and the clash is logged and listed by ``ragdistill plugins``.
A third-party ``register_commands`` that raises loses the commands it added, likewise.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

import click

from ragdistill import __version__
from ragdistill.errors import RagdistillError

if TYPE_CHECKING:
    import pluggy

    from ragdistill.plugins import FailedPlugin


class RagdistillGroup(click.Group):
    """Prints a :class:`RagdistillError` as a one-line ``Error:`` instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RagdistillError as exc:
            raise click.ClickException(str(exc)) from exc


class RagdistillCLI(RagdistillGroup):
    """The top-level group, which remembers which plugin added each command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: command name -> the plugin that added it.
        self.command_plugins: dict[str, str] = {}
        #: Commands refused (a name clash) or dropped (their hook raised), with the reason.
        self.command_failures: list[FailedPlugin] = []


def new_cli() -> RagdistillCLI:
    """The bare ``ragdistill`` group, with no commands yet."""

    @click.group(cls=RagdistillCLI, name="ragdistill")
    @click.version_option(__version__, prog_name="ragdistill")
    @click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
    def cli(verbose: int) -> None:
        """Distill the embedder, reranker, query transformer and generator of a RAG stack."""
        level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")

    return cli


def build_cli() -> RagdistillCLI:
    """A new CLI group with every plugin's commands added."""
    from ragdistill.plugins import default_plugin_manager

    try:
        pm = default_plugin_manager()
    except RagdistillError as exc:
        raise click.ClickException(str(exc)) from exc
    cli = new_cli()
    # In registration order: the built-ins first, then entry points by name.
    for impl in pm.hook.register_commands.get_hookimpls():
        _add_commands(cli, pm, impl)
    return cli


def _add_commands(cli: RagdistillCLI, pm: pluggy.PluginManager, impl: pluggy.HookImpl) -> None:
    from ragdistill.plugins import FailedPlugin, distribution_of, is_builtin, log_failure

    plugin, before = impl.plugin_name, dict(cli.commands)
    dist = distribution_of(pm, plugin)
    try:
        impl.function(cli=cli)
    except Exception as exc:
        if is_builtin(plugin):
            raise
        cli.commands = before  # none of its commands: a half-added plugin is worse
        error = f"its register_commands hook raised {type(exc).__name__}: {exc}"
        cli.command_failures.append(FailedPlugin(plugin, dist, error))
        log_failure(plugin, dist, error, outcome="had its commands dropped")
        return
    for name, command in list(cli.commands.items()):
        if name not in before:
            cli.command_plugins[name] = plugin
        elif command is not before[name]:
            cli.commands[name] = before[name]
            owner = cli.command_plugins.get(name, "?")
            error = (
                f"it adds the command {name!r}, which plugin {owner!r} already adds (that "
                f"one is kept); rename the command in one plugin's register_commands hook"
            )
            cli.command_failures.append(FailedPlugin(plugin, dist, error))
            log_failure(plugin, dist, error, outcome=f"had its command {name!r} refused")


def main(argv: list[str] | None = None) -> None:
    try:
        group = build_cli()
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    group.main(args=argv, prog_name="ragdistill")
