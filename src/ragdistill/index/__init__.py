"""Vector indexes for retrieval: Chroma (embedded or client/server)."""

from ragdistill.index.chroma import ChromaIndex, IndexMismatchError, IndexStats, SearchTiming
from ragdistill.index.fingerprint import embedder_fingerprint, model_dir_of
from ragdistill.index.integrity import IndexDamagedError

__all__ = [
    "ChromaIndex",
    "IndexDamagedError",
    "IndexMismatchError",
    "IndexStats",
    "SearchTiming",
    "embedder_fingerprint",
    "model_dir_of",
]
