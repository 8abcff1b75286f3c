"""Built-in plugin: the losses no single stage owns.

``logit-kl`` and the text losses (:mod:`ragdistill.losses.text`: ``sequence-kd``,
``token-kd``, ``reverse-kl``, ``gjsd``) serve every stage whose teacher writes text, the
generator and the query transformer. The loss classes import torch, so they are imported
inside the hook, which runs only when a registry is built; importing this module (as
``ragdistill --help`` does) stays torch-free. The embedder and reranker losses are
registered by their stage packages.
"""

from __future__ import annotations

from ragdistill.hookspecs import RegisterLoss, hookimpl


@hookimpl
def register_losses(register: RegisterLoss) -> None:
    from ragdistill.losses.logit_kl import LogitKLLoss
    from ragdistill.losses.text import (
        GeneralizedJSDLoss,
        ReverseKLLoss,
        SequenceKDLoss,
        TokenKDLoss,
    )

    register("logit-kl", LogitKLLoss)
    register("sequence-kd", SequenceKDLoss)
    register("token-kd", TokenKDLoss)
    register("reverse-kl", ReverseKLLoss)
    register("gjsd", GeneralizedJSDLoss)
