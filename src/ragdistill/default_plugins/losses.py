"""Built-in plugin: the losses of the stages that have no package yet.

The loss classes import torch, so they are imported inside the hook, which runs only when
a registry is built; importing this module (as ``ragdistill --help`` does) stays torch-free.
The embedder and reranker losses are registered by their stage packages.
"""

from __future__ import annotations

from ragdistill.hookspecs import RegisterLoss, hookimpl


@hookimpl
def register_losses(register: RegisterLoss) -> None:
    from ragdistill.losses.logit_kl import LogitKLLoss

    register("logit-kl", LogitKLLoss)
