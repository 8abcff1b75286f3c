"""``ragdistill plugins``: what is installed, its version, hooks and registrations.

A plugin that failed (to import, to match its hooks, or to register: see
:mod:`ragdistill.plugins`) is listed as ``FAILED`` with the reason, and the command
still exits 0: the rest of the tool works without it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ragdistill.cli import RagdistillCLI
    from ragdistill.registry import Entry


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--all", "show_all", is_flag=True, help="Include the built-in plugins.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool, show_all: bool) -> None:
    """List installed plugins: name, version, hooks and what each registers."""
    from ragdistill.cli import RagdistillCLI

    root = ctx.find_root().command
    data = plugins_report(
        include_builtin=show_all or as_json,
        cli=root if isinstance(root, RagdistillCLI) else None,
    )
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    if not data["plugins"]:
        click.echo("No third-party plugins installed (use --all to list the built-ins).")
    for plugin in data["plugins"]:
        version = plugin["version"] or ("built-in" if plugin["builtin"] else "?")
        click.echo(f"{plugin['name']} ({plugin['distribution']} {version})")
        click.echo(f"  hooks: {', '.join(plugin['hooks']) or '-'}")
        for reg in plugin["registers"]:
            click.echo(f"  {_describe(reg)}")
        for command in plugin["commands"]:
            click.echo(f"  command: {command}")
    for failed in data["failed"]:
        click.echo(
            f"FAILED {failed['name']} ({failed['distribution']}): {failed['error']}", err=True
        )
    for failed in data["command_failures"]:
        click.echo(
            f"FAILED command of {failed['name']} ({failed['distribution']}): {failed['error']}",
            err=True,
        )
    for plugin, hook, reason in data["unavailable"]:
        click.echo(f"unavailable: {plugin} {hook}: {reason}")
    for skipped in data["skipped"]:
        click.echo(f"skipped {skipped} (RAGDISTILL_LOAD_PLUGINS / RAGDISTILL_DISABLE_PLUGINS)")


def plugins_report(*, include_builtin: bool, cli: RagdistillCLI | None = None) -> dict[str, Any]:
    """The listing as data; ``cli`` (the group built by ``build_cli``) adds who added
    which command."""
    from ragdistill.plugins import default_plugin_manager, plugin_hooks
    from ragdistill.registry import default_registry

    pm = default_plugin_manager()
    registry = default_registry()
    failed = [*pm.report.failed, *registry.failed]
    dropped = {f.name for f in registry.failed}
    commands = cli.command_plugins if cli is not None else {}
    rows = []
    for info in pm.report.loaded.values():
        if (info.builtin and not include_builtin) or info.name in dropped:
            continue
        rows.append(
            {
                "name": info.name,
                "version": info.version,
                "distribution": info.distribution,
                "builtin": info.builtin,
                "hooks": plugin_hooks(pm, info.name),
                "registers": [_registration(e) for e in registry.by_plugin(info.name)],
                "commands": sorted(c for c, p in commands.items() if p == info.name),
            }
        )
    return {
        "plugins": rows,
        "failed": [vars(f) for f in failed],
        "command_failures": [vars(f) for f in (cli.command_failures if cli else [])],
        "skipped": list(pm.report.skipped),
        "unavailable": [list(item) for item in registry.unavailable],
    }


def _describe(reg: dict[str, Any]) -> str:
    """One registration as a listing line, e.g. ``reranker loss: margin-mse``."""
    if reg["kind"] == "recipe_options":
        return f"recipe table: [plugins.{reg['name']}]"
    stage = f"{reg['stage']} " if reg["stage"] else ""
    also = f" (also {', '.join(reg['also_stages'])})" if reg.get("also_stages") else ""
    return f"{stage}{reg['kind']}: {reg['name']}{also}"


def _registration(entry: Entry) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": entry.kind, "stage": entry.stage, "name": entry.name}
    if entry.kind == "loss":  # looked up by name alone, but each serves a stage
        row["stage"] = getattr(entry.obj, "stage", None)
        row["also_stages"] = list(getattr(entry.obj, "also_stages", ()))
    return row
