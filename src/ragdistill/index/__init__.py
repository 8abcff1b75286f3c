"""Vector indexes for retrieval: Chroma (embedded or client/server)."""

from ragdistill.index.chroma import ChromaIndex, IndexMismatchError, IndexStats, SearchTiming
from ragdistill.index.fingerprint import embedder_fingerprint, model_dir_of

__all__ = [
    "ChromaIndex",
    "IndexMismatchError",
    "IndexStats",
    "SearchTiming",
    "embedder_fingerprint",
    "model_dir_of",
]
