"""LangChain components backed by ragdistill teachers and distilled students.

Each class wraps one ragdistill stage contract and loads from an artifact directory
(or a model name ragdistill resolves), or builds a registered teacher kind, in one call::

    from langchain_ragdistill import ChatRagdistill, RagdistillEmbeddings, RagdistillRerank

    embeddings = RagdistillEmbeddings.from_artifact("runs/minilm/student")
    reranker = RagdistillRerank.from_teacher("bi-encoder", model="all-mpnet-base-v2", top_n=3)
    llm = ChatRagdistill.from_artifact("runs/smol/student")

A whole pipeline spec arm, or the online A/B router over two, is one runnable::

    rag = RagdistillPipelineRunnable.router_from_spec("pipeline.toml", documents, "ab.sqlite")
"""

from __future__ import annotations

from langchain_ragdistill.chat_models import ChatRagdistill
from langchain_ragdistill.compressors import RagdistillRerank
from langchain_ragdistill.embeddings import RagdistillEmbeddings
from langchain_ragdistill.pipeline import RagdistillPipelineRetriever, RagdistillPipelineRunnable
from langchain_ragdistill.query import (
    RagdistillHyDE,
    RagdistillQueryExpander,
    RagdistillQueryRewriter,
)
from langchain_ragdistill.serialization import refuse_widening_options

__all__ = [
    "ChatRagdistill",
    "RagdistillEmbeddings",
    "RagdistillHyDE",
    "RagdistillPipelineRetriever",
    "RagdistillPipelineRunnable",
    "RagdistillQueryExpander",
    "RagdistillQueryRewriter",
    "RagdistillRerank",
    "refuse_widening_options",
]
