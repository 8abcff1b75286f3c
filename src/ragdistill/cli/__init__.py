"""The ``ragdistill`` command line.

Every command, the built-in ones included, is added through the ``register_commands``
hook, after plugins load. Command modules import only click at module level, so
``ragdistill --help`` never imports torch or transformers.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from ragdistill import __version__
from ragdistill.errors import RagdistillError


class RagdistillGroup(click.Group):
    """Prints a :class:`RagdistillError` as a one-line ``Error:`` instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RagdistillError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=RagdistillGroup)
@click.version_option(__version__, prog_name="ragdistill")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
def cli(verbose: int) -> None:
    """Distill the embedder, reranker, query transformer and generator of a RAG stack."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def build_cli() -> click.Group:
    """The CLI group with every plugin's commands added."""
    from ragdistill.plugins import default_plugin_manager

    try:
        pm = default_plugin_manager()
    except RagdistillError as exc:
        raise click.ClickException(str(exc)) from exc
    pm.hook.register_commands(cli=cli)
    return cli


def main(argv: list[str] | None = None) -> None:
    try:
        group = build_cli()
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    group.main(args=argv, prog_name="ragdistill")
