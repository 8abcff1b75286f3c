"""A ragdistill embedder as a Chroma ``EmbeddingFunction``."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from ragdistill.contracts import Embedder

if TYPE_CHECKING:
    from ragdistill.runtime import RuntimeBackend

NAME = "ragdistill"
_SPACES: list[Space] = ["cosine", "l2", "ip"]
# Chroma rebuilds the function from its config more than once per collection (to test
# it is not "legacy", on every reopen); loading and checksumming a model each time
# would dominate, so loaded components are shared per (source, options, runtime).
_LOADED: dict[tuple[str, str], Embedder] = {}
_LOCK = threading.Lock()


@register_embedding_function
class RagdistillEmbeddingFunction(EmbeddingFunction[Documents]):
    """Embeds Chroma documents and queries with a ragdistill embedder.

    Load by source (an artifact directory, model folder or a model name ragdistill
    resolves) and Chroma stores that source in the collection's configuration, so
    ``client.get_collection(name)`` rebuilds this function by itself later::

        ef = RagdistillEmbeddingFunction("runs/minilm/student")
        collection = client.create_collection("docs", embedding_function=ef)

    ``runtime`` names the registered runtime that loads it (``runtime_options`` build
    it; both are stored in the configuration too); by default the torch runtime on the
    CPU. A component built by hand (``component=``) or a runtime passed as an instance
    works too, but then Chroma cannot rebuild it: pass ``embedding_function=`` again when
    you reopen the collection.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | None = None,
        *,
        component: Embedder | None = None,
        load_options: dict[str, Any] | None = None,
        space: Space = "cosine",
        runtime: str | RuntimeBackend | None = None,
        runtime_options: dict[str, Any] | None = None,
    ) -> None:
        if (source is None) == (component is None):
            raise TypeError("pass exactly one of source= (a path or model name) or component=")
        if space not in _SPACES:
            raise ValueError(f"space must be one of {_SPACES}, got {space!r}")
        self.load_options = dict(load_options or {})
        self.space: Space = space
        self.source: str | None = None
        self.runtime = runtime
        self.runtime_options = dict(runtime_options or {})
        if source is not None:
            self.source = _portable(source)
            component = _load(self.source, self.load_options, runtime, self.runtime_options)
        if not isinstance(component, Embedder):
            raise TypeError(
                f"component must be a ragdistill Embedder, got {type(component).__name__}"
            )
        self._component = component

    @classmethod
    def from_pretrained(
        cls, source: str | os.PathLike[str], **kwargs: Any
    ) -> RagdistillEmbeddingFunction:
        return cls(source, **kwargs)

    from_artifact = from_pretrained

    @property
    def component(self) -> Embedder:
        return self._component

    @property
    def manifest(self) -> dict[str, Any] | None:
        """The artifact's manifest (teacher, student, metrics...), None if built by hand."""
        manifest = getattr(self._component, "manifest", None)
        return dict(manifest) if isinstance(manifest, dict) else None

    def __call__(self, input: Documents) -> Embeddings:
        return _rows(self._component.embed_many(list(input), input_type="document"))

    def embed_query(self, input: Documents) -> Embeddings:
        return _rows(self._component.embed_many(list(input), input_type="query"))

    @staticmethod
    def name() -> str:
        return NAME

    def default_space(self) -> Space:
        return self.space

    def supported_spaces(self) -> list[Space]:
        return list(_SPACES)

    def get_config(self) -> dict[str, Any]:
        if self.source is None or not (self.runtime is None or isinstance(self.runtime, str)):
            # Chroma reads NotImplemented as "legacy": the collection keeps no config to
            # rebuild from, and the caller passes the function again on reopen.
            return NotImplemented  # type: ignore[no-any-return]
        config: dict[str, Any] = {
            "source": self.source, "load_options": self.load_options, "space": self.space
        }  # fmt: skip
        if self.runtime is not None:
            config.update(runtime=self.runtime, runtime_options=self.runtime_options)
        return config

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> RagdistillEmbeddingFunction:
        RagdistillEmbeddingFunction.validate_config(config)
        return RagdistillEmbeddingFunction(
            config["source"],
            load_options=config.get("load_options") or {},
            space=config.get("space", "cosine"),
            runtime=config.get("runtime"),
            runtime_options=config.get("runtime_options") or {},
        )

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        if not isinstance(config.get("source"), str) or not config["source"]:
            raise ValueError(
                f"a {NAME} embedding function config needs a 'source' path or model name, "
                f"got {config!r:.200}"
            )
        for key in ("load_options", "runtime_options"):
            if not isinstance(config.get(key, {}), dict):
                raise ValueError(
                    f"{key!r} in a ragdistill embedding function config must be a dict"
                )
        if not isinstance(config.get("runtime", ""), str | None):
            raise ValueError("'runtime' in a ragdistill embedding function config must be a name")

    def validate_config_update(
        self, old_config: dict[str, Any], new_config: dict[str, Any]
    ) -> None:
        # A moved artifact may change path; a different model would make stored vectors
        # meaningless, which the manifest cannot tell from here, so only the space is fixed.
        if "space" in new_config and new_config["space"] != old_config.get("space"):
            raise ValueError("the distance space of an existing collection cannot change")


def _portable(source: str | os.PathLike[str]) -> str:
    """An existing folder as an absolute path (reopens from any cwd); a name as it is."""
    path = Path(source)
    return str(path.resolve()) if path.is_dir() else os.fspath(source)


def _load(
    source: str,
    options: dict[str, Any],
    runtime: str | RuntimeBackend | None,
    runtime_options: dict[str, Any],
) -> Embedder:
    from ragdistill.loading import load_component

    def load() -> Embedder:
        component = load_component(
            source, stage="embedder", runtime=runtime, runtime_options=runtime_options, **options
        )
        if not isinstance(component, Embedder):
            raise TypeError(f"{source} did not load as a ragdistill Embedder")
        return component

    if not (runtime is None or isinstance(runtime, str)):
        return load()  # an instance: Chroma cannot rebuild it from a config, nothing to share
    key = (source, json.dumps([options, runtime, runtime_options], sort_keys=True, default=str))
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = load()
        return _LOADED[key]


def _rows(array: np.ndarray) -> Embeddings:
    return [np.asarray(row, dtype=np.float32) for row in array]
