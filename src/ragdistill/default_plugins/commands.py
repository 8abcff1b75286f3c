"""Built-in plugin: the core CLI commands, added through ``register_commands``."""

from __future__ import annotations

import importlib

import click

from ragdistill.hookspecs import hookimpl

# module path -> command attribute; imported when the CLI starts (click-only modules).
BUILTIN_COMMANDS = {
    "ragdistill.cli.plugins_cmd": "plugins",
    "ragdistill.cli.models_cmd": "models",
    "ragdistill.cli.distill_cmd": "distill",
    "ragdistill.cli.sweep_cmd": "sweep",
    "ragdistill.cli.ab_cmd": "ab",
    "ragdistill.cli.quickstart_cmd": "quickstart",
}


@hookimpl
def register_commands(cli: click.Group) -> None:
    for module_name, attr in BUILTIN_COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a command still being written is simply absent
        cli.add_command(getattr(module, attr))
