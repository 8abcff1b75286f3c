"""Built-in teachers on Hugging Face libraries (transformers, sentence-transformers).

Importing this package is cheap: torch and transformers load when a component first
loads its model. Install them with ``pip install 'ragdistill[hf]'``.
"""

from ragdistill.hf.embedders import HFEncoderEmbedder, SentenceTransformerEmbedder
from ragdistill.hf.generator import CausalLMGenerator
from ragdistill.hf.llm_judge import DEFAULT_JUDGE_PROMPT, LLMJudgeReranker
from ragdistill.hf.query_transformers import (
    EXPAND_PROMPT,
    REWRITE_PROMPT,
    LLMQueryTransformer,
    Seq2SeqQueryTransformer,
    parse_queries,
)
from ragdistill.hf.rerankers import BiEncoderReranker, CrossEncoderReranker

__all__ = [
    "DEFAULT_JUDGE_PROMPT",
    "EXPAND_PROMPT",
    "REWRITE_PROMPT",
    "BiEncoderReranker",
    "CausalLMGenerator",
    "CrossEncoderReranker",
    "HFEncoderEmbedder",
    "LLMJudgeReranker",
    "LLMQueryTransformer",
    "SentenceTransformerEmbedder",
    "Seq2SeqQueryTransformer",
    "parse_queries",
]
