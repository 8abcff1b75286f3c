"""Built-in plugin: the distillation losses, registered like a third-party plugin would.

The loss classes import torch, so they are imported inside the hook, which runs only when
a registry is built; importing this module (as ``ragdistill --help`` does) stays torch-free.
"""

from __future__ import annotations

from ragdistill.hookspecs import RegisterLoss, hookimpl


@hookimpl
def register_losses(register: RegisterLoss) -> None:
    from ragdistill.losses.cosine import CosineDistillationLoss
    from ragdistill.losses.listwise_kl import ListwiseKLLoss
    from ragdistill.losses.logit_kl import LogitKLLoss
    from ragdistill.losses.margin_mse import MarginMSELoss
    from ragdistill.losses.matryoshka import MatryoshkaLoss
    from ragdistill.losses.mse import EmbeddingMSELoss
    from ragdistill.losses.ntxent import NTXentLoss
    from ragdistill.losses.pointwise_mse import PointwiseMSELoss
    from ragdistill.losses.similarity_kl import SimilarityKLLoss

    register("mse", EmbeddingMSELoss)
    register("ntxent", NTXentLoss)
    register("similarity-kl", SimilarityKLLoss)
    register("matryoshka", MatryoshkaLoss)
    register("cosine", CosineDistillationLoss)
    register("margin-mse", MarginMSELoss)
    register("listwise-kl", ListwiseKLLoss)
    register("pointwise-mse", PointwiseMSELoss)
    register("logit-kl", LogitKLLoss)
