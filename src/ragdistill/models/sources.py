"""The plugin seam for places a model can come from.

A model source turns a name into model files. A plugin subclasses :class:`ModelSource`,
implements :meth:`ModelSource.fetch` and registers the class with the
``register_model_sources`` hook; :mod:`ragdistill.models` does the rest (choosing a
source, the cache, checksums, locking, atomic installs).
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar


class ModelSource(ABC):
    """Where models come from: a hub, a local folder, a package index...

    Subclasses set :attr:`scheme` (the ``scheme:`` prefix that selects them, e.g.
    ``"hf:org/name"``; register the class under that same name) and :attr:`priority` (sources are tried in ascending order when a
    name has no prefix), and implement :meth:`fetch`. The other hooks have defaults.
    """

    scheme: ClassVar[str]
    priority: ClassVar[int] = 100
    description: ClassVar[str] = ""
    #: True for sources whose unprefixed names the model libraries resolve themselves
    #: (hub ids): :func:`ragdistill.models.resolve_model` then passes the name through.
    defer_to_library: ClassVar[bool] = False

    def __init__(self, *, progress: bool = False) -> None:
        self.progress = progress

    def handles(self, name: str) -> bool:
        """Whether this source claims an unprefixed ``name`` (with a prefix it is always asked)."""
        return True

    def canonical(self, name: str) -> str:
        """The name the model is cached under (an alias maps to its catalog name)."""
        return name

    def in_place(self, name: str) -> Path | None:
        """A folder to use as it is, without copying into the cache; None to fetch.

        A local-folder source returns the folder here, so a 10 GB checkpoint on disk is
        not duplicated. Raise a :class:`~ragdistill.errors.RagdistillError` if ``name``
        is not a usable model.
        """
        return None

    def available(self) -> dict[str, dict[str, Any]]:
        """Names this source can always provide (a catalog), with a short description each."""
        return {}

    @abstractmethod
    def fetch(self, name: str, dest: Path) -> dict[str, Any]:
        """Write the model's files into ``dest`` and return metadata about them.

        ``dest`` is a fresh, empty folder inside the cache; the caller hashes its files
        and moves it into place only after this returns, so a failure or a kill midway
        leaves no half model. Scratch files may go in a temporary folder under
        ``dest.parent`` (same file system). Return JSON-serialisable metadata: at least
        what was fetched (``version``, ``upstream`` files...); it is kept in the cache
        record. Raise a :class:`~ragdistill.errors.RagdistillError` that says what to do
        when the model cannot be fetched.
        """

    def report(self, message: str) -> None:
        """Tell the user about a long step (download, conversion) when progress is on."""
        if self.progress:
            print(message, file=sys.stderr, flush=True)
