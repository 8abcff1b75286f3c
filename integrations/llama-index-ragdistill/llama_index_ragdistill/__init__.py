"""LlamaIndex components backed by ragdistill teachers and distilled students.

Each class wraps one ragdistill stage contract and loads from an artifact directory
(or a model name ragdistill resolves), or builds a registered teacher kind, in one call::

    from llama_index.core import Settings
    from llama_index_ragdistill import RagdistillEmbedding, RagdistillLLM, RagdistillRerank

    Settings.embed_model = RagdistillEmbedding.from_artifact("runs/minilm/student")
    Settings.llm = RagdistillLLM.from_artifact("runs/smol/student")
    rerank = RagdistillRerank.from_teacher("bi-encoder", model="all-mpnet-base-v2", top_n=3)

Built either way, they pickle, copy and round-trip through ``to_dict``/``from_dict``.

A whole pipeline spec arm, or the online A/B router over two, is one query engine::

    engine = RagdistillQueryEngine.router_from_spec("pipeline.toml", documents, "ab.sqlite")
"""

from __future__ import annotations

from llama_index_ragdistill._spec import ComponentSpec
from llama_index_ragdistill._structured import StructuredOutputError
from llama_index_ragdistill.embedding import RagdistillEmbedding
from llama_index_ragdistill.llm import RagdistillLLM
from llama_index_ragdistill.pipeline import (
    RagdistillQueryBundle,
    RagdistillQueryEngine,
    RagdistillRetriever,
)
from llama_index_ragdistill.postprocessor import RagdistillRerank
from llama_index_ragdistill.query_transform import (
    RagdistillFusionRetriever,
    RagdistillQueryTransform,
)

__all__ = [
    "ComponentSpec",
    "RagdistillEmbedding",
    "RagdistillFusionRetriever",
    "RagdistillLLM",
    "RagdistillQueryBundle",
    "RagdistillQueryEngine",
    "RagdistillQueryTransform",
    "RagdistillRerank",
    "RagdistillRetriever",
    "StructuredOutputError",
]
