"""The generator stage as a plugin: its stage and its student.

Its teachers (``hf-causal-lm``, and ``openai`` from the OpenAI plugin) are registered
where they live; this plugin adds what only distillation needs (its losses are shared with the
query-transformer stage and registered by the core). Classes are imported inside the
hooks: the CLI builds a registry of stages only.
"""

from __future__ import annotations

from ragdistill.hookspecs import RegisterStage, RegisterStudent, hookimpl


@hookimpl
def register_stages(register: RegisterStage) -> None:
    from ragdistill.stages.generator.stage import GeneratorStage

    register("generator", GeneratorStage)


@hookimpl
def register_students(register: RegisterStudent) -> None:
    from ragdistill.generation.causal_lm import CausalLMStudent

    register("causal-lm", CausalLMStudent)
