"""Built-in plugin: the Hugging Face teachers (sentence-transformers, transformers).

Registered through the same hook a third-party plugin implements. ``ragdistill.hf``
imports no torch at module level, so registering these costs nothing until one loads.
"""

from __future__ import annotations

from ragdistill.hookspecs import RegisterTeacher, hookimpl


@hookimpl
def register_teachers(register: RegisterTeacher) -> None:
    from ragdistill import hf
    from ragdistill.hf.colbert import ColBERTReranker
    from ragdistill.hf.ensemble import EnsembleReranker

    register("sentence-transformers", hf.SentenceTransformerEmbedder)
    register("hf-encoder", hf.HFEncoderEmbedder)
    register("cross-encoder", hf.CrossEncoderReranker)
    register("bi-encoder", hf.BiEncoderReranker)
    register("llm-judge", hf.LLMJudgeReranker)
    register("colbert", ColBERTReranker)
    register("ensemble", EnsembleReranker)
    register("hf-causal-lm", hf.CausalLMGenerator)
    register("hf-llm", hf.LLMQueryTransformer)
    register("hf-seq2seq", hf.Seq2SeqQueryTransformer)
