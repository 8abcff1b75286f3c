"""The query-transformer stage as a plugin: its stage and its students.

Its teachers (``hf-llm``, ``hf-seq2seq``, and ``openai`` from the OpenAI plugin) are
registered where they live, and its losses (``sequence-kd``, ``token-kd``...) by the
core, shared with the generator. Classes are imported inside the hooks: the CLI builds
a registry of stages only.
"""

from __future__ import annotations

from ragdistill.hookspecs import RegisterStage, RegisterStudent, hookimpl


@hookimpl
def register_stages(register: RegisterStage) -> None:
    from ragdistill.stages.query_transformer.stage import QueryTransformerStage

    register("query_transformer", QueryTransformerStage)


@hookimpl
def register_students(register: RegisterStudent) -> None:
    from ragdistill.generation.seq2seq import Seq2SeqStudent
    from ragdistill.stages.query_transformer.students import CausalLMQueryStudent

    register("causal-lm", CausalLMQueryStudent)
    register("seq2seq", Seq2SeqStudent)
