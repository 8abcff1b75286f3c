"""Losses for teachers that write text (answers, rewritten queries), one per module:
each a thin module around a pure function.

``sequence-kd`` needs only the teacher's answer tokens; ``token-kd``, ``reverse-kl`` and
``gjsd`` also need its stored top-k log-probabilities (see :mod:`._sparse`).
"""

# First: without torch it raises MissingDependencyError, which the registry reports.
from ragdistill.losses.base import DistillationLoss
from ragdistill.losses.text.gjsd import GeneralizedJSDLoss, generalized_jsd
from ragdistill.losses.text.reverse_kl import ReverseKLLoss, sparse_reverse_kl
from ragdistill.losses.text.sequence_kd import SequenceKDLoss, sequence_kd
from ragdistill.losses.text.token_kd import TokenKDLoss, token_kd

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
