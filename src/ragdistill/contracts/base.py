"""What every component of every stage shares: options, batching, async, validation."""

from __future__ import annotations

import asyncio
from abc import ABC
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from ragdistill.config import validate_options
from ragdistill.errors import ContractError
from ragdistill.provenance import origin

#: A stage's name. The four contracts here define the built-in ones; a plugin may add more
#: (a contract of its own plus a ``register_stages`` registration).
Stage = str
STAGES: tuple[Stage, ...] = ("embedder", "reranker", "query_transformer", "generator")

T = TypeVar("T")
C = TypeVar("C", bound="Component")


class Component(ABC):
    """Base of the four stage contracts.

    A subclass implements its stage's single abstract method and writes a normal
    typed ``__init__``; the base class supplies batching, input checks, async
    variants and construction from validated options (:meth:`from_options`).
    """

    stage: ClassVar[Stage]
    #: Items per call to the abstract batch method; instances may override it.
    batch_size: int = 32
    #: Bump when the outputs change for the same options (a new prompt, a fixed bug): it
    #: is part of :meth:`describe`, so teacher caches keyed by it refill. A class of a
    #: third-party distribution that does not set it is keyed by that distribution's
    #: version instead (see :mod:`ragdistill.provenance`).
    cache_version: ClassVar[str | None] = None

    @classmethod
    def from_options(cls: type[C], options: Mapping[str, Any], *, where: str = "options") -> C:
        """Build from a mapping (a recipe table), validated against ``__init__``."""
        kwargs = validate_options(cls, options, where=where)
        instance = cls(**kwargs)
        instance.options = dict(kwargs)
        return instance

    #: The validated options it was built from; empty (and read-only) when built directly.
    options: Mapping[str, Any] = MappingProxyType({})

    @classmethod
    def folder_match(cls, folder: Path, config: Mapping[str, Any]) -> int:
        """How surely this class loads ``folder``, a plain model folder with no manifest.

        0 means not at all; among the registered teachers the highest score loads it.
        ``config`` is the folder's ``config.json`` (empty when there is none).
        """
        return 0

    def describe(self) -> dict[str, Any]:
        """What a manifest or report records about this component; also its identity.

        The teacher cache and index fingerprints hash it (less the operational options,
        see :func:`identity`), so an override must extend ``super().describe()``. Besides
        the class and options it holds ``cache_version`` when the class declares one, and
        ``distribution`` (name, version) for a class of a third-party distribution that
        does not declare its own: a plugin upgrade then never reuses stale outputs.
        """
        return {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "stage": self.stage,
            "options": {k: v for k, v in self.options.items() if _is_plain(v)},
            **origin(type(self)),
        }

    def _batches(self, items: Sequence[T], batch_size: int | None) -> Iterator[Sequence[T]]:
        size = batch_size or self.batch_size
        if size < 1:
            raise ValueError(f"batch_size must be >= 1, got {size}")
        for start in range(0, len(items), size):
            yield items[start : start + size]

    async def _in_thread(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        # Default async: run the sync batch method in a worker thread so an event loop
        # is never blocked; network-bound plugins override the a* method natively.
        return await asyncio.to_thread(func, *args, **kwargs)


#: Options that change how a component runs, never what it computes: left out of the
#: identity that teacher caches and indexes are keyed by.
OPERATIONAL_OPTIONS = frozenset(
    {
        "batch_size", "device", "show_progress", "max_concurrency", "requests_per_minute",
        "max_retries", "retry_backoff", "timeout", "cache", "cache_dir", "api_key",
        "api_key_env", "trust_remote_code", "document_cache_size",
    }
)  # fmt: skip


def identity(description: Mapping[str, Any]) -> dict[str, Any]:
    """A ``describe()`` dict without operational options: what the outputs depend on.

    Options are dropped at every depth, so an ensemble's members (nested option
    tables, nested descriptions) are keyed without their batch sizes and devices too.
    A description without nested operational options keeps the id it always had.
    """
    return dict(_without_operational(description))


def _without_operational(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: _without_operational(v) for k, v in value.items() if k not in OPERATIONAL_OPTIONS
        }
    if isinstance(value, list | tuple):
        return [_without_operational(v) for v in value]
    return value


def check_texts(texts: Any, *, name: str = "texts") -> list[str]:
    """A list of strings, refusing a bare string (which would iterate by character)."""
    if isinstance(texts, str):
        raise TypeError(f"{name} must be a list of strings, not one string: wrap it as [{name}]")
    try:
        items = list(texts)
    except TypeError:
        raise TypeError(f"{name} must be a list of strings, got {type(texts).__name__}") from None
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(text).__name__}")
    return items


def check_count(component: Component, method: str, got: int, expected: int) -> None:
    if got != expected:
        raise ContractError(
            f"{type(component).__qualname__}.{method} returned {got} results for "
            f"{expected} inputs; it must return exactly one per input"
        )


def progress(total: int, *, enabled: bool, desc: str) -> Any:
    """A tqdm bar (or a no-op one) for long batch loops."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, unit="item")


def _is_plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | type(None) | list | tuple | dict)
