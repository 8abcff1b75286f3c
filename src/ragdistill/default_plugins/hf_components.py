"""Built-in plugin: the Hugging Face teachers of the stages that have no package yet.

The query transformer and generator components (transformers) are registered here
through the same hook a third-party plugin implements; the embedder and reranker
components are registered by their stage packages. ``ragdistill.hf`` imports no torch at
module level, so registering these costs nothing until one loads.
"""

from __future__ import annotations

from ragdistill.hookspecs import RegisterTeacher, hookimpl


@hookimpl
def register_teachers(register: RegisterTeacher) -> None:
    from ragdistill import hf

    register("hf-causal-lm", hf.CausalLMGenerator)
    register("hf-llm", hf.LLMQueryTransformer)
    register("hf-seq2seq", hf.Seq2SeqQueryTransformer)
