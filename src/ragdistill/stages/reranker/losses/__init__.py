"""Reranker distillation losses: one per module, each a thin module around a pure function."""

from ragdistill.stages.reranker.losses.listwise_kl import ListwiseKLLoss, listwise_kl
from ragdistill.stages.reranker.losses.margin_mse import MarginMSELoss, margin_mse
from ragdistill.stages.reranker.losses.pointwise_mse import PointwiseMSELoss, pointwise_mse

__all__ = [
    "ListwiseKLLoss",
    "MarginMSELoss",
    "PointwiseMSELoss",
    "listwise_kl",
    "margin_mse",
    "pointwise_mse",
]
