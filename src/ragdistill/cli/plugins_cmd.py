"""``ragdistill plugins``: what is installed, its version, hooks and registrations."""

from __future__ import annotations

import json
from typing import Any

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--all", "show_all", is_flag=True, help="Include the built-in plugins.")
def plugins(as_json: bool, show_all: bool) -> None:
    """List installed plugins: name, version, hooks and what each registers."""
    data = plugins_report(include_builtin=show_all or as_json)
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
            stage = f"{reg['stage']} " if reg["stage"] else ""
            click.echo(f"  {stage}{reg['kind']}: {reg['name']}")
    for failed in data["failed"]:
        click.echo(
            f"FAILED {failed['name']} ({failed['distribution']}): {failed['error']}", err=True
        )
    for plugin, hook, reason in data["unavailable"]:
        click.echo(f"unavailable: {plugin} {hook}: {reason}")
    for skipped in data["skipped"]:
        click.echo(f"skipped {skipped} (RAGDISTILL_LOAD_PLUGINS / RAGDISTILL_DISABLE_PLUGINS)")


def plugins_report(*, include_builtin: bool) -> dict[str, Any]:
    from ragdistill.plugins import default_plugin_manager, plugin_hooks
    from ragdistill.registry import default_registry

    pm = default_plugin_manager()
    registry = default_registry()
    rows = []
    for info in pm.report.loaded.values():
        if info.builtin and not include_builtin:
            continue
        rows.append(
            {
                "name": info.name,
                "version": info.version,
                "distribution": info.distribution,
                "builtin": info.builtin,
                "hooks": plugin_hooks(pm, info.name),
                "registers": [
                    {"kind": e.kind, "stage": e.stage, "name": e.name}
                    for e in registry.by_plugin(info.name)
                ],
            }
        )
    return {
        "plugins": rows,
        "failed": [vars(f) for f in pm.report.failed],
        "skipped": list(pm.report.skipped),
        "unavailable": [list(item) for item in registry.unavailable],
    }
