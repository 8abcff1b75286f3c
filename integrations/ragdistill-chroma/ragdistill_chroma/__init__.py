"""A Chroma embedding function backed by ragdistill teachers and distilled students.

Importing this package registers the function with Chroma under the name
``"ragdistill"``, so a collection created with it reopens without passing it again::

    import chromadb
    from ragdistill_chroma import RagdistillEmbeddingFunction

    client = chromadb.PersistentClient("index")
    ef = RagdistillEmbeddingFunction("runs/minilm/student")
    docs = ef.get_or_create_collection(client, "docs")  # refuses another model's collection
"""

from __future__ import annotations

from ragdistill_chroma.embedding_function import RagdistillEmbeddingFunction

__all__ = ["RagdistillEmbeddingFunction"]
