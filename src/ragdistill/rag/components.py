"""Building a spec's components once each, and what each costs to hold in memory."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragdistill.contracts import Component
from ragdistill.errors import ConfigError
from ragdistill.rag.spec import ComponentSpec

if TYPE_CHECKING:
    from ragdistill.contracts import Embedder
    from ragdistill.index import ChromaIndex
    from ragdistill.rag.pipeline import Corpus


@dataclass
class Built:
    """A loaded component with the lock its callers take (a model may not be safe to run
    from two threads at once) and the resident memory its load added."""

    component: Component
    spec: ComponentSpec
    lock: threading.Lock = field(default_factory=threading.Lock)
    load_bytes: int | None = None
    load_s: float = 0.0
    #: Seconds spent storing the corpus ahead (a reranker with ``index_documents``).
    index_s: float | None = None


class ComponentPool:
    """Components by spec: arms that name the same component share one instance.

    ``allow_network`` is passed to artifact loads: a spec written by the caller may
    name an API teacher, but an artifact's own manifest never widens a load on its own.
    """

    def __init__(self, *, allow_network: bool = False, device: str | None = None) -> None:
        self.allow_network = allow_network
        self.device = device
        self._built: dict[str, Built] = {}
        self._indexes: dict[str, ChromaIndex] = {}
        self._lock = threading.Lock()

    def index(
        self,
        collection: str,
        embedder: Embedder,
        folder: Path | str | None,
        corpus: Corpus,
        *,
        show_progress: bool = False,
    ) -> ChromaIndex:
        """``corpus`` indexed by ``embedder`` (one index per embedder, shared by the arms
        that use it); a persistent ``folder`` re-embeds only passages that changed."""
        from ragdistill.index import ChromaIndex

        with self._lock:
            if collection not in self._indexes:
                index = ChromaIndex(embedder, collection=collection, path=folder,
                                    show_progress=show_progress)  # fmt: skip
                index.add(corpus.passages.values(), sync=True)
                self._indexes[collection] = index
            return self._indexes[collection]

    def prepare(self, built: Built, corpus: Corpus, *, show_progress: bool = False) -> None:
        """Give a component that stores documents ahead (ColBERT's ``index_documents``)
        the whole corpus, once: at query time it then encodes only the query, as when
        deployed. Saved to its ``doc_index`` file when it has one, so a rerun reads it."""
        import time

        store = getattr(built.component, "index_documents", None)
        if store is None or built.index_s is not None:
            return
        with built.lock:
            start = time.perf_counter()
            added = store([p.text for p in corpus.passages.values()], show_progress=show_progress)
            built.index_s = time.perf_counter() - start
            save = getattr(built.component, "save_index", None)
            if added and save is not None and getattr(built.component, "doc_index", None):
                save()

    def built(self) -> list[Built]:
        """Every component loaded so far."""
        return list(self._built.values())

    def get(self, stage: str, spec: ComponentSpec) -> Built:
        key = f"{stage}:{spec.key()}"
        with self._lock:
            if key not in self._built:
                self._built[key] = self._build(stage, spec)
            return self._built[key]

    def _build(self, stage: str, spec: ComponentSpec) -> Built:
        import time

        from ragdistill.evaluation.measure import resident_bytes

        _import_libraries()  # so the first component's memory is its own, not torch's
        before = resident_bytes()
        start = time.perf_counter()
        component = build_component(stage, spec, allow_network=self.allow_network, device=self.device)  # fmt: skip
        seconds = time.perf_counter() - start
        after = resident_bytes()
        grown = None if before is None or after is None else max(0, after - before)
        return Built(component, spec, load_bytes=grown, load_s=seconds)


def build_component(
    stage: str, spec: ComponentSpec, *, allow_network: bool = False, device: str | None = None
) -> Component:
    """The component a spec names: a registered ``kind`` built from its options, or an
    artifact / model folder / provisionable name loaded through its runtime."""
    from ragdistill.loading import load_component
    from ragdistill.registry import default_registry

    options = spec.options
    where = f"[{stage}] {spec.source}"
    if spec.kind is not None:
        registry = default_registry()
        cls = registry.teacher(stage, spec.kind)
        if device is not None and "device" not in options and _accepts(cls, "device"):
            options["device"] = device
        return cls.from_options(options, where=where)
    source = spec.artifact if spec.artifact is not None else options.pop("model")
    runtime_options = {"device": device} if device else None
    try:
        return load_component(source, stage, runtime=spec.runtime,
                              runtime_options=runtime_options if spec.runtime else None,
                              allow_network=allow_network, **options)  # fmt: skip
    except FileNotFoundError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _import_libraries() -> None:
    import importlib
    import importlib.util

    for name in ("torch", "transformers", "sentence_transformers"):
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def _accepts(cls: type, name: str) -> bool:
    import inspect

    return name in inspect.signature(cls).parameters


def describe(built: Built) -> dict[str, Any]:
    """What a report shows of a component: its source and what it is."""
    info = built.component.describe()
    out = {"source": built.spec.source, "class": info.get("class"), "options": info.get("options")}
    if built.index_s is not None:
        out["stores_documents"] = True
        out["index_s"] = round(built.index_s, 2)
    return out
