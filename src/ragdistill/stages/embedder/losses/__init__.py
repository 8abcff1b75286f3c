"""Embedder distillation losses: one per module, each a thin module around a pure function."""

# First: without torch it raises MissingDependencyError, which the registry reports.
from ragdistill.losses.base import DistillationLoss
from ragdistill.stages.embedder.losses.cosine import CosineDistillationLoss, cosine_distance
from ragdistill.stages.embedder.losses.matryoshka import MatryoshkaLoss, matryoshka
from ragdistill.stages.embedder.losses.mse import EmbeddingMSELoss, embedding_mse
from ragdistill.stages.embedder.losses.ntxent import NTXentLoss, ntxent
from ragdistill.stages.embedder.losses.similarity_kl import SimilarityKLLoss, similarity_kl

__all__ = [
    "CosineDistillationLoss",
    "DistillationLoss",
    "EmbeddingMSELoss",
    "MatryoshkaLoss",
    "NTXentLoss",
    "SimilarityKLLoss",
    "cosine_distance",
    "embedding_mse",
    "matryoshka",
    "ntxent",
    "similarity_kl",
]
