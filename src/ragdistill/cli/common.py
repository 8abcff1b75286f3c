"""Helpers the commands share, stage commands included: datasets and components by name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ragdistill.errors import ConfigError

if TYPE_CHECKING:
    from ragdistill.runtime import RuntimeBackend

F = TypeVar("F", bound=Callable[..., Any])


def key_values(items: tuple[str, ...], *, flag: str) -> dict[str, str]:
    """``("a=1", "b=x")`` -> ``{"a": "1", "b": "x"}``; a malformed item names the flag."""
    table: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {item!r}: write KEY=VALUE, e.g. split=dev")
        table[key.strip()] = value
    return table


def load_dataset(name: str, data_path: Path | None, options: tuple[str, ...]) -> Any:
    """A registered dataset loader, its options validated, loaded."""
    from ragdistill.registry import default_registry

    cls = default_registry().dataset(name)
    table: dict[str, Any] = dict(key_values(options, flag="--data-option"))
    if data_path is not None:
        table["path"] = str(data_path)
    return cls.from_options(table, where=f"dataset {name}").load()


def dataset_flags(
    default: str, *, judged: str = "judged queries", example: str = "eval_articles=6"
) -> Callable[[F], F]:
    """``--dataset NAME`` (default ``default``), ``--data-path`` and repeatable
    ``--data-option KEY=VALUE``: the dataset an A/B command loads with :func:`load_dataset`."""

    def wrap(func: F) -> F:
        func = click.option(
            "--data-option", "data_options", multiple=True, metavar="KEY=VALUE",
            help=f"Another dataset option, e.g. {example} (repeatable).",
        )(func)  # fmt: skip
        func = click.option(
            "--data-path", type=click.Path(path_type=Path), help="The dataset's file or folder."
        )(func)
        func = click.option(
            "--dataset", default=default, show_default=True,
            help=f"A registered dataset with {judged}.",
        )(func)  # fmt: skip
        return func

    return wrap


def runtime_flags(func: F) -> F:
    """``--runtime NAME`` and ``--runtime-option KEY=VALUE``: the runtime that loads the
    artifact arms of an A/B command (see :func:`cli_runtime`)."""
    func = click.option(
        "--runtime-option", "runtime_options", multiple=True, metavar="KEY=VALUE",
        help="An option of the runtime, e.g. threads=4 (repeatable).",
    )(func)  # fmt: skip
    func = click.option(
        "--runtime", "runtime", metavar="NAME",
        help="The registered runtime that loads artifact arms (default: torch; see "
        "`ragdistill plugins --all`).",
    )(func)  # fmt: skip
    return func


def cli_runtime(name: str | None, options: tuple[str, ...], device: str | None) -> RuntimeBackend:
    """The runtime of ``--runtime`` and ``--runtime-option``, validated before any model loads.

    ``--device`` is the runtime's ``device`` option unless ``--runtime-option`` sets it;
    without ``--runtime``, the torch runtime on ``--device`` (default cpu).
    """
    from ragdistill.loading import resolve_runtime

    table: dict[str, Any] = dict(key_values(options, flag="--runtime-option"))
    if device is not None:
        table.setdefault("device", device)
    return resolve_runtime(name, table)
