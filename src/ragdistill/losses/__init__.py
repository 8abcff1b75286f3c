"""Distillation losses, one per module, each a thin module around a pure function.

Importing this package imports torch. Losses are registered by name through the
``register_losses`` hook (see :mod:`ragdistill.default_plugins.losses`) and built from a
recipe's ``[[losses]]`` tables by :func:`build_losses`.
"""

from ragdistill.losses.base import (
    CONTEXT_KEYS,
    DistillationLoss,
    LossInputError,
    OptionError,
)
from ragdistill.losses.compose import WeightedLoss, build_losses, validate_loss_specs
from ragdistill.losses.cosine import CosineDistillationLoss, cosine_distance
from ragdistill.losses.listwise_kl import ListwiseKLLoss, listwise_kl
from ragdistill.losses.logit_kl import LogitKLLoss, logit_kl
from ragdistill.losses.margin_mse import MarginMSELoss, margin_mse
from ragdistill.losses.matryoshka import MatryoshkaLoss, matryoshka
from ragdistill.losses.mse import EmbeddingMSELoss, embedding_mse
from ragdistill.losses.ntxent import NTXentLoss, ntxent
from ragdistill.losses.pointwise_mse import PointwiseMSELoss, pointwise_mse
from ragdistill.losses.similarity_kl import SimilarityKLLoss, similarity_kl

__all__ = [
    "CONTEXT_KEYS",
    "CosineDistillationLoss",
    "DistillationLoss",
    "EmbeddingMSELoss",
    "ListwiseKLLoss",
    "LogitKLLoss",
    "LossInputError",
    "MarginMSELoss",
    "MatryoshkaLoss",
    "NTXentLoss",
    "OptionError",
    "PointwiseMSELoss",
    "SimilarityKLLoss",
    "WeightedLoss",
    "build_losses",
    "cosine_distance",
    "embedding_mse",
    "listwise_kl",
    "logit_kl",
    "margin_mse",
    "matryoshka",
    "ntxent",
    "pointwise_mse",
    "similarity_kl",
    "validate_loss_specs",
]
