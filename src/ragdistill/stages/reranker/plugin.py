"""The reranker stage as a plugin: its stage, teachers, students and losses.

Registered through the same hooks a third-party stage implements. The classes are
imported inside the hooks: the loss modules import torch, and the CLI builds a registry
of stages only.
"""

from __future__ import annotations

from ragdistill.hookspecs import (
    RegisterLoss,
    RegisterStage,
    RegisterStudent,
    RegisterTeacher,
    hookimpl,
)


@hookimpl
def register_stages(register: RegisterStage) -> None:
    from ragdistill.stages.reranker.stage import RerankerStage

    register("reranker", RerankerStage)


@hookimpl
def register_teachers(register: RegisterTeacher) -> None:
    from ragdistill.stages.reranker.colbert import ColBERTReranker
    from ragdistill.stages.reranker.components import BiEncoderReranker, CrossEncoderReranker
    from ragdistill.stages.reranker.ensemble import EnsembleReranker
    from ragdistill.stages.reranker.llm_judge import LLMJudgeReranker

    register("cross-encoder", CrossEncoderReranker)
    register("bi-encoder", BiEncoderReranker)
    register("llm-judge", LLMJudgeReranker)
    register("colbert", ColBERTReranker)
    register("ensemble", EnsembleReranker)


@hookimpl
def register_students(register: RegisterStudent) -> None:
    from ragdistill.stages.reranker.students import (
        BiEncoderStudent,
        ColBERTStudent,
        CrossEncoderStudent,
    )

    register("cross-encoder", CrossEncoderStudent)
    register("bi-encoder", BiEncoderStudent)
    register("colbert", ColBERTStudent)


@hookimpl
def register_losses(register: RegisterLoss) -> None:
    from ragdistill.stages.reranker.losses import ListwiseKLLoss, MarginMSELoss, PointwiseMSELoss

    register("margin-mse", MarginMSELoss)
    register("listwise-kl", ListwiseKLLoss)
    register("pointwise-mse", PointwiseMSELoss)
