"""Generator distillation losses: one per module, each a thin module around a pure function.

``sequence-kd`` needs only the teacher's answer tokens; ``token-kd``, ``reverse-kl`` and
``gjsd`` also need its stored top-k log-probabilities (see :mod:`._sparse`).
"""

# First: without torch it raises MissingDependencyError, which the registry reports.
from ragdistill.losses.base import DistillationLoss
from ragdistill.stages.generator.losses.gjsd import GeneralizedJSDLoss, generalized_jsd
from ragdistill.stages.generator.losses.reverse_kl import ReverseKLLoss, sparse_reverse_kl
from ragdistill.stages.generator.losses.sequence_kd import SequenceKDLoss, sequence_kd
from ragdistill.stages.generator.losses.token_kd import TokenKDLoss, token_kd

__all__ = [
    "DistillationLoss",
    "GeneralizedJSDLoss",
    "ReverseKLLoss",
    "SequenceKDLoss",
    "TokenKDLoss",
    "generalized_jsd",
    "sequence_kd",
    "sparse_reverse_kl",
    "token_kd",
]
