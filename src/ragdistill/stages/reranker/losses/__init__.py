"""Reranker distillation losses: one per module, each a thin module around a pure function."""

# First: without torch it raises MissingDependencyError, which the registry reports.
from ragdistill.losses.base import DistillationLoss
from ragdistill.stages.reranker.losses.listwise_kl import ListwiseKLLoss, listwise_kl
from ragdistill.stages.reranker.losses.margin_mse import MarginMSELoss, margin_mse
from ragdistill.stages.reranker.losses.pointwise_mse import PointwiseMSELoss, pointwise_mse

__all__ = [
    "DistillationLoss",
    "ListwiseKLLoss",
    "MarginMSELoss",
    "PointwiseMSELoss",
    "listwise_kl",
    "margin_mse",
    "pointwise_mse",
]
