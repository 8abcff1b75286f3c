"""Seeded initialisation of a student's new layers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Draw the random initialisations made inside from ``seed``; torch's CPU generator
    is restored afterwards.

    A student's new layers (a projection, a ColBERT head, LoRA adapters) and the losses'
    projections are initialised from torch's global generator, whose state depends on
    whatever ran before in the process. Seeded, the same recipe builds the same weights
    every time, including the rerun after a kill before the first checkpoint, which
    builds the student anew and must match the "before" student the killed run saved.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
