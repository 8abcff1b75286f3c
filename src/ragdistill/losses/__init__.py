"""Distillation losses, one per module, each a thin module around a pure function.

The shared pieces live here (the base class, shape checks, the weighted sum of a recipe's
``[[losses]]`` tables); each stage keeps its own losses in ``ragdistill.stages.<stage>.losses``
and registers them through the ``register_losses`` hook. Importing this package imports torch.
"""

from ragdistill.losses.base import (
    CONTEXT_KEYS,
    DistillationLoss,
    LossInputError,
    OptionError,
)
from ragdistill.losses.compose import WeightedLoss, build_losses, validate_loss_specs
from ragdistill.losses.logit_kl import LogitKLLoss, logit_kl

__all__ = [
    "CONTEXT_KEYS",
    "DistillationLoss",
    "LogitKLLoss",
    "LossInputError",
    "OptionError",
    "WeightedLoss",
    "build_losses",
    "logit_kl",
    "validate_loss_specs",
]
