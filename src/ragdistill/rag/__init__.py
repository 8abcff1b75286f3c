"""RAG pipelines built from a spec, and the pipeline A/B: offline, then on live traffic.

A spec (:mod:`ragdistill.rag.spec`) names arms, each a pipeline of components (query
transformer -> embedder over Chroma -> reranker -> generator). The same spec builds
the offline A/B (:mod:`ragdistill.rag.offline`), the online router and the LlamaIndex /
LangChain components, so what is measured is what is deployed. This package composes
the built-in stages in RAG order, so it sits above them; nothing below imports it.
"""

from ragdistill.rag.pipeline import Context, Corpus, PipelineAnswer, RagPipeline, build_pipeline
from ragdistill.rag.request_log import RequestLog
from ragdistill.rag.router import PipelineRouter
from ragdistill.rag.spec import PipelineSpec, load_spec, parse_spec

__all__ = [
    "Context",
    "Corpus",
    "PipelineAnswer",
    "PipelineRouter",
    "PipelineSpec",
    "RagPipeline",
    "RequestLog",
    "build_pipeline",
    "load_spec",
    "parse_spec",
]
