"""The embedder stage as a plugin: its stage, teachers, student and losses.

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
    from ragdistill.stages.embedder.stage import EmbedderStage

    register("embedder", EmbedderStage)


@hookimpl
def register_teachers(register: RegisterTeacher) -> None:
    from ragdistill.stages.embedder.components import (
        HFEncoderEmbedder,
        SentenceTransformerEmbedder,
    )
    from ragdistill.stages.embedder.ensemble import EnsembleEmbedder

    register("sentence-transformers", SentenceTransformerEmbedder)
    register("hf-encoder", HFEncoderEmbedder)
    register("ensemble", EnsembleEmbedder)


@hookimpl
def register_students(register: RegisterStudent) -> None:
    from ragdistill.stages.embedder.student import SentenceTransformerStudent

    register("sentence-transformers", SentenceTransformerStudent)


@hookimpl
def register_losses(register: RegisterLoss) -> None:
    from ragdistill.stages.embedder.losses import (
        CosineDistillationLoss,
        EmbeddingMSELoss,
        MatryoshkaLoss,
        NTXentLoss,
        SimilarityKLLoss,
    )

    register("mse", EmbeddingMSELoss)
    register("ntxent", NTXentLoss)
    register("similarity-kl", SimilarityKLLoss)
    register("matryoshka", MatryoshkaLoss)
    register("cosine", CosineDistillationLoss)
