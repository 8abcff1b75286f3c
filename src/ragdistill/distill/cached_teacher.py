"""A teacher embedder in front of its disk cache: computes only what was never seen."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ragdistill.contracts import Embedder, FloatArray, InputType
from ragdistill.teacher_cache import FillStats, TeacherCache, embedding_keys, fingerprint


@runtime_checkable
class CombinedEmbeddings(Protocol):
    """A teacher whose vectors join its members' (an ensemble): cached member by member."""

    members: list[Embedder]

    def combine(self, parts: list[FloatArray]) -> FloatArray:
        """Final rows from each member's rows, in member order."""


class CachedEmbedder(Embedder):
    """Wraps ``inner`` so every (input type, text) is embedded once per teacher, ever.

    It describes itself as ``inner`` does, so a Chroma collection built through the
    cache is the same collection the bare teacher would build.
    """

    def __init__(self, inner: Embedder, *, root: Path | None = None, label: str = "") -> None:
        self.inner = inner
        #: Said in the progress bar: which member of an ensemble is labelling.
        self.label = label
        self.batch_size = inner.batch_size
        self.options = inner.options
        #: Texts :meth:`embed_batch` read from the cache, and those the teacher computed:
        #: what an index built through the cache cost.
        self.reused = 0
        self.computed = 0
        self.members: list[CachedEmbedder] = []
        if isinstance(inner, CombinedEmbeddings):
            # Each member in its own cache: what a single-teacher run of it stored is reused.
            self.members = [
                CachedEmbedder(m, root=root, label=f"member {i + 1} of {len(inner.members)}")
                for i, m in enumerate(inner.members)
            ]
            self.cache: TeacherCache | CombinedCache = CombinedCache(
                [m.cache for m in self.members], inner.combine
            )
            self._dimension = sum(m.dimension for m in self.members)
            return
        teacher_id = fingerprint(inner.describe())
        # A known teacher's width is on disk: probing it would load (or call) the model.
        dim = TeacherCache.stored_dim(teacher_id, root=root) or inner.dimension
        self.cache = TeacherCache.open(teacher_id, dim=dim, root=root, description=inner.describe())
        self._dimension = dim

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    @property
    def model(self) -> Any:
        """The inner teacher's model name, so index fingerprints match the bare teacher's."""
        return getattr(self.inner, "model", None)

    def fill(
        self,
        texts: list[str],
        input_type: InputType,
        *,
        show_progress: bool = True,
        part: int = 0,
        parts: int = 1,
    ) -> FillStats:
        """Make sure every text is cached, computing the missing ones in batches.

        Texts go to the teacher sorted by length, so a batch pads little. With ``parts``
        above 1, several processes fill the cache together and this one labels only its
        share, part ``part``: the texts whose content hash falls to it, so each text is
        one process's whatever each has seen of the cache; the stats are the share's.
        """
        texts, keys = _share(texts, input_type, part, parts)
        if not isinstance(self.cache, TeacherCache):  # an ensemble: member by member
            # Computed: the texts some member lacked (each member then fills its own).
            computed = len(self.cache.missing(keys))
            for member in self.members:
                member.fill(texts, input_type, show_progress=show_progress)
            return FillStats(
                len(dict.fromkeys(keys)), computed, len(dict.fromkeys(keys)) - computed
            )
        kind = "queries" if input_type == "query" else "documents"
        return self.cache.fill(
            keys,
            lambda idx: self.inner.embed_many([texts[i] for i in idx], input_type=input_type),
            batch_size=self.inner.batch_size,
            show_progress=show_progress,
            desc=f"teacher labelling ({kind}{', ' + self.label if self.label else ''})",
        )

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        stats = self.fill(texts, input_type, show_progress=False)
        self.computed += stats.computed
        self.reused += stats.reused
        return self.cache.get(embedding_keys(texts, input_type))


def _share(
    texts: list[str], input_type: InputType, part: int, parts: int
) -> tuple[list[str], list[str]]:
    """The texts (sorted by length, so a batch pads little) and keys of share ``part``."""
    texts = sorted(texts, key=len)
    keys = embedding_keys(texts, input_type)
    if parts > 1:
        mine = [i for i, key in enumerate(keys) if int(key[:8], 16) % parts == part]
        texts, keys = [texts[i] for i in mine], [keys[i] for i in mine]
    return texts, keys


class CombinedCache:
    """The members' caches read as one: rows joined by ``combine``, a key missing when any
    member lacks it."""

    def __init__(
        self, caches: Sequence[TeacherCache | CombinedCache],
        combine: Callable[[list[FloatArray]], FloatArray],
    ) -> None:  # fmt: skip
        self.caches = caches
        self.combine = combine

    def missing(self, keys: Sequence[str]) -> list[str]:
        lacking = {k for cache in self.caches for k in cache.missing(keys)}
        return [k for k in dict.fromkeys(keys) if k in lacking]

    def get(self, keys: Sequence[str]) -> FloatArray:
        return self.combine([cache.get(keys) for cache in self.caches])
