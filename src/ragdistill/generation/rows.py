"""Turning the teacher's stored answers into the student's training rows and batches.

A row is ``(prompt ids, target ids)`` in the student's tokens plus, for token-level KD,
the teacher's sparse top-k at every target position. With a shared tokenizer and stored
log-probs, the targets are the teacher's own token ids (so each position's top-k lines
up with the token it describes), followed by the end-of-turn token, which the teacher
emitted with certainty (its row: that id at log-prob 0). Otherwise the answer *text* is
tokenized by the student (sequence-level KD).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ragdistill.generation.store import Labelled


@dataclass(frozen=True)
class TrainRow:
    prompt_ids: tuple[int, ...]
    target_ids: tuple[int, ...]
    weight: float = 1.0
    top_ids: np.ndarray | None = None
    top_logprobs: np.ndarray | None = None


def clean_answer(text: str) -> str | None:
    """The answer text to train on, or None for an empty one (dropped and counted)."""
    text = text.strip()
    return text or None


def token_row(
    prompt_ids: list[int], label: Labelled, eos_id: int, *, max_answer: int
) -> TrainRow | None:
    """A row on the teacher's own tokens and its top-k (shared tokenizer)."""
    if label.token_ids is None or label.top_ids is None or label.top_logprobs is None:
        return None
    n = min(len(label.token_ids), max_answer)
    if n == 0:
        return None
    k = label.top_ids.shape[1]
    top_ids = np.zeros((n + 1, k), dtype=np.int64)
    top_lp = np.full((n + 1, k), -np.inf, dtype=np.float32)
    top_ids[:n] = label.top_ids[:n]
    top_lp[:n] = label.top_logprobs[:n]
    top_ids[n, 0], top_lp[n, 0] = eos_id, 0.0
    targets = (*(int(t) for t in label.token_ids[:n]), eos_id)
    return TrainRow(tuple(prompt_ids), targets, 1.0, top_ids, top_lp)


def teacher_batch(rows: list[TrainRow]) -> tuple[Any, dict[str, Any]]:
    """Padded targets ``[B, T]`` and the loss inputs: mask, row weights, top-k if stored."""
    import torch

    width = max(len(r.target_ids) for r in rows)
    targets = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, row in enumerate(rows):
        targets[i, : len(row.target_ids)] = torch.tensor(row.target_ids)
        mask[i, : len(row.target_ids)] = True
    extra: dict[str, Any] = {
        "mask": mask,
        "row_weight": torch.tensor([r.weight for r in rows], dtype=torch.float32),
    }
    if all(r.top_ids is not None for r in rows):
        k = rows[0].top_ids.shape[1]  # type: ignore[union-attr]
        ids = torch.zeros((len(rows), width, k), dtype=torch.long)
        lps = torch.full((len(rows), width, k), float("-inf"))
        for i, row in enumerate(rows):
            n = len(row.target_ids)
            ids[i, :n] = torch.from_numpy(row.top_ids)
            lps[i, :n] = torch.from_numpy(row.top_logprobs)
        extra["top_ids"], extra["top_logprobs"] = ids, lps
    return targets, extra
