"""A ragdistill embedder as a Chroma ``EmbeddingFunction``.

Vectors of two models are not comparable, even of the same dimension, so a collection
records the model that embedded it: its fingerprint
(:func:`ragdistill.index.embedder_fingerprint`, the identity the core
:class:`~ragdistill.index.ChromaIndex` records) is in the function's Chroma config, and
:meth:`RagdistillEmbeddingFunction.get_or_create_collection` also writes it to the
collection's metadata under the core's keys. A mismatch raises
:class:`~ragdistill.index.IndexMismatchError`. Chroma itself compares only the functions'
names (``"ragdistill"`` for any model), so a collection opened with
``client.get_collection(name, embedding_function=ef)`` is checked only by
:meth:`~RagdistillEmbeddingFunction.check_collection`.

``collection.modify(configuration={"embedding_function": other})`` is refused too, but
late: Chroma (1.x, local) stores the new configuration before it asks the function to
validate the update, so the refusal comes after the write. The error says how to put the
record back; a collection opened through ``get_or_create_collection`` keeps the model in
its metadata as well, which the write does not touch, so it stays refused either way.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from ragdistill.contracts import Embedder
from ragdistill.index import IndexMismatchError, embedder_fingerprint
from ragdistill.index.chroma import DIMENSION_KEY, EMBEDDER_KEY, FINGERPRINT_KEY

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from ragdistill.runtime import RuntimeBackend

NAME = "ragdistill"
_SPACES: list[Space] = ["cosine", "l2", "ip"]
# Chroma rebuilds the function from its config more than once per collection (to test
# it is not "legacy", on every reopen); loading and checksumming a model each time
# would dominate, so loaded components are shared per (source, options, runtime).
_LOADED: dict[tuple[str, str], Embedder] = {}
_FINGERPRINTS: dict[tuple[str, str], str] = {}  # of the components in _LOADED
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

    Open collections with :meth:`get_or_create_collection` (or check one you opened with
    :meth:`check_collection`): a collection another model embedded is then refused, which
    Chroma does not do (see the module).
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
        self._key: tuple[str, str] | None = None
        self._fingerprint: str | None = None
        if source is not None:
            self.source = _portable(source)
            component, self._key = _load(
                self.source, self.load_options, runtime, self.runtime_options
            )
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
    def fingerprint(self) -> str:
        """The model's identity: :func:`ragdistill.index.embedder_fingerprint`."""
        if self._fingerprint is None:
            if self._key is None:
                self._fingerprint = embedder_fingerprint(self._component)
            else:  # Chroma rebuilds the function on every add and query: hash once
                with _LOCK:
                    if self._key not in _FINGERPRINTS:
                        _FINGERPRINTS[self._key] = embedder_fingerprint(self._component)
                    self._fingerprint = _FINGERPRINTS[self._key]
        return self._fingerprint

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
            "source": self.source, "load_options": self.load_options, "space": self.space,
            "fingerprint": self.fingerprint, "dimension": self._component.dimension,
        }  # fmt: skip
        if self.runtime is not None:
            config.update(runtime=self.runtime, runtime_options=self.runtime_options)
        return config

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> RagdistillEmbeddingFunction:
        """Load the source again; refuse it if it no longer holds the recorded model."""
        RagdistillEmbeddingFunction.validate_config(config)
        ef = RagdistillEmbeddingFunction(
            config["source"],
            load_options=config.get("load_options") or {},
            space=config.get("space", "cosine"),
            runtime=config.get("runtime"),
            runtime_options=config.get("runtime_options") or {},
        )
        recorded = config.get("fingerprint")  # absent from configs of ragdistill-chroma 0.1
        if recorded is not None and recorded != ef.fingerprint:
            raise IndexMismatchError(
                f"{ef.source} now loads another model (fingerprint {ef.fingerprint[:12]}) than "
                f"the one that embedded this collection (fingerprint {recorded[:12]}), e.g. "
                "retrained into the same folder; index into a new collection, or load the "
                "original model and pass it as embedding_function="
            )
        return ef

    def identity(self) -> dict[str, str | int]:
        """What a collection's metadata records about its model (the core's keys)."""
        return {
            FINGERPRINT_KEY: self.fingerprint,
            DIMENSION_KEY: self._component.dimension,
            EMBEDDER_KEY: str(self._component.describe().get("class", "")),
        }

    def check_collection(self, collection: Collection) -> None:
        """Raise :class:`IndexMismatchError` if another model embedded ``collection``.

        Reads the identity in its metadata, else in its embedding-function config; a
        collection that records neither is accepted (nothing to compare).
        """
        found = _recorded(collection)
        if found is None:
            return
        fingerprint, dimension, model = found
        if fingerprint != self.fingerprint or dimension not in (None, self._component.dimension):
            mine = self.source or str(self._component.describe().get("class"))
            raise IndexMismatchError(
                f"collection {collection.name!r} was embedded by another model ({model}, "
                f"dimension {dimension}, fingerprint {str(fingerprint)[:12]}) than {mine} "
                f"(dimension {self._component.dimension}, fingerprint {self.fingerprint[:12]}); "
                "their vectors are not comparable: use another collection, or delete this "
                "one and add its documents again"
            )

    def get_or_create_collection(
        self,
        client: ClientAPI,
        name: str,
        *,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Collection:
        """``client.get_or_create_collection(name, embedding_function=self, ...)``, checked.

        Refuses (:class:`IndexMismatchError`) a collection another model embedded;
        records this model in the metadata of one that records no model yet.
        """
        identity = self.identity()
        collection = client.get_or_create_collection(
            name,
            metadata={**(metadata or {}), **identity},
            embedding_function=cast(Any, self),  # chroma types it for images and texts
            **kwargs,
        )
        self.check_collection(collection)
        if FINGERPRINT_KEY not in (collection.metadata or {}):
            collection.modify(metadata={**(collection.metadata or {}), **identity})
        return collection

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
        if not isinstance(config.get("fingerprint", ""), str):
            raise ValueError(
                "'fingerprint' in a ragdistill embedding function config must be a str"
            )
        if not isinstance(config.get("runtime", ""), str | None):
            raise ValueError("'runtime' in a ragdistill embedding function config must be a name")

    def validate_config_update(
        self, old_config: dict[str, Any], new_config: dict[str, Any]
    ) -> None:
        # A moved artifact may change path, not the model: the fingerprint tells them apart.
        if "space" in new_config and new_config["space"] != old_config.get("space"):
            raise ValueError("the distance space of an existing collection cannot change")
        old, new = old_config.get("fingerprint"), new_config.get("fingerprint")
        if old is not None and new is not None and old != new:
            source = old_config.get("source")
            original = (
                f"RagdistillEmbeddingFunction({source!r})"
                if source
                else "the function that embedded it"
            )
            raise IndexMismatchError(
                f"the collection was embedded by another model (fingerprint {old[:12]}, "
                f"{source or 'built in code'}) than {new_config.get('source')} (fingerprint "
                f"{new[:12]}); its vectors would not be comparable. Chroma stored the new "
                "configuration before this check ran: put the record back with "
                f"collection.modify(configuration={{'embedding_function': {original}}})"
            )


def _portable(source: str | os.PathLike[str]) -> str:
    """An existing folder as an absolute path (reopens from any cwd); a name as it is."""
    path = Path(source)
    return str(path.resolve()) if path.is_dir() else os.fspath(source)


def _recorded(collection: Collection) -> tuple[Any, Any, Any] | None:
    """(fingerprint, dimension, model) that ``collection`` records, or None."""
    metadata = collection.metadata or {}
    if FINGERPRINT_KEY in metadata:
        return metadata[FINGERPRINT_KEY], metadata.get(DIMENSION_KEY), metadata.get(EMBEDDER_KEY)
    ef = (collection.configuration_json or {}).get("embedding_function") or {}
    config = ef.get("config") or {}
    if ef.get("name") == NAME and config.get("fingerprint"):
        return config["fingerprint"], config.get("dimension"), config.get("source")
    return None


def _load(
    source: str,
    options: dict[str, Any],
    runtime: str | RuntimeBackend | None,
    runtime_options: dict[str, Any],
) -> tuple[Embedder, tuple[str, str] | None]:
    """The component, and its key among the shared ones (None when not shared)."""
    from ragdistill.loading import load_component

    def load() -> Embedder:
        component = load_component(
            source, stage="embedder", runtime=runtime, runtime_options=runtime_options, **options
        )
        if not isinstance(component, Embedder):
            raise TypeError(f"{source} did not load as a ragdistill Embedder")
        return component

    if not (runtime is None or isinstance(runtime, str)):
        return load(), None  # an instance: Chroma cannot rebuild it from a config, no sharing
    key = (source, json.dumps([options, runtime, runtime_options], sort_keys=True, default=str))
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = load()
        return _LOADED[key], key


def _rows(array: np.ndarray) -> Embeddings:
    return [np.asarray(row, dtype=np.float32) for row in array]
