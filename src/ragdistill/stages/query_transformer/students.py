"""The query-transformer students: a causal LM on the teacher's own prompt, saved for the
``hf-llm`` query transformer, and a seq2seq model (:mod:`ragdistill.generation.seq2seq`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from ragdistill.generation.causal_lm import CausalLMStudent


class CausalLMQueryStudent(CausalLMStudent):
    """A causal LM (``SmolLM2-135M-Instruct``, a layer-pruned copy...) that learns to
    answer the teacher's query-transformation prompt with the teacher's reply.

    Every option of the generator's ``causal-lm`` student applies (``lora``,
    ``keep_layers``, ``max_length``...). The artifact loads as an ``hf-llm`` query
    transformer with the teacher's prompts, task and answer budget (in its manifest).
    """

    stage: ClassVar[Literal["query_transformer"]] = "query_transformer"  # type: ignore[assignment]
    loader: ClassVar[str] = "hf-llm"
