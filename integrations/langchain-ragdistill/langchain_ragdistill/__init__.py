"""LangChain components backed by ragdistill teachers and distilled students.

Each class wraps one ragdistill stage contract and loads from an artifact directory
(or a model name ragdistill resolves) in one call::

    from langchain_ragdistill import ChatRagdistill, RagdistillEmbeddings

    embeddings = RagdistillEmbeddings.from_pretrained("runs/minilm/student")
    llm = ChatRagdistill.from_pretrained("runs/smol/student")
"""

from __future__ import annotations

from langchain_ragdistill.chat_models import ChatRagdistill
from langchain_ragdistill.compressors import RagdistillRerank
from langchain_ragdistill.embeddings import RagdistillEmbeddings
from langchain_ragdistill.query import (
    RagdistillHyDE,
    RagdistillQueryExpander,
    RagdistillQueryRewriter,
)

__all__ = [
    "ChatRagdistill",
    "RagdistillEmbeddings",
    "RagdistillHyDE",
    "RagdistillQueryExpander",
    "RagdistillQueryRewriter",
    "RagdistillRerank",
]
