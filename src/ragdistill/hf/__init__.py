"""Built-in Hugging Face components shared by stages (transformers loading, causal LMs).

Importing this package is cheap: torch and transformers load when a component first
loads its model. Install them with ``pip install 'ragdistill[hf]'``. The embedder and
reranker components live in their stage packages (``ragdistill.stages.embedder``,
``ragdistill.stages.reranker``).
"""

from ragdistill.hf._causal import encoding_lock
from ragdistill.hf.generator import CausalLMGenerator
from ragdistill.hf.query_transformers import (
    EXPAND_PROMPT,
    HYDE_PROMPT,
    REWRITE_PROMPT,
    LLMQueryTransformer,
    Seq2SeqQueryTransformer,
)
from ragdistill.query_parsing import parse_queries

__all__ = [
    "EXPAND_PROMPT",
    "HYDE_PROMPT",
    "REWRITE_PROMPT",
    "CausalLMGenerator",
    "LLMQueryTransformer",
    "Seq2SeqQueryTransformer",
    "encoding_lock",
    "parse_queries",
]
