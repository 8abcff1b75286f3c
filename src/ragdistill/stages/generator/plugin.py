"""The generator stage as a plugin: its stage, its student and its losses.

Its teachers (``hf-causal-lm``, and ``openai`` from the OpenAI plugin) are registered
where they live; this plugin adds what only distillation needs. Classes are imported
inside the hooks: the loss modules import torch, and the CLI builds a registry of
stages only.
"""

from __future__ import annotations

from ragdistill.hookspecs import RegisterLoss, RegisterStage, RegisterStudent, hookimpl


@hookimpl
def register_stages(register: RegisterStage) -> None:
    from ragdistill.stages.generator.stage import GeneratorStage

    register("generator", GeneratorStage)


@hookimpl
def register_students(register: RegisterStudent) -> None:
    from ragdistill.stages.generator.student import CausalLMStudent

    register("causal-lm", CausalLMStudent)


@hookimpl
def register_losses(register: RegisterLoss) -> None:
    from ragdistill.stages.generator.losses import (
        GeneralizedJSDLoss,
        ReverseKLLoss,
        SequenceKDLoss,
        TokenKDLoss,
    )

    register("sequence-kd", SequenceKDLoss)
    register("token-kd", TokenKDLoss)
    register("reverse-kl", ReverseKLLoss)
    register("gjsd", GeneralizedJSDLoss)
