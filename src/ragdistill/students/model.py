"""The trainable side of a student (imports torch)."""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any

import torch


class StudentModel(torch.nn.Module):
    """A module the trainer optimises; ``forward(batch)`` returns outputs to distill."""

    #: Width of the outputs compared with the teacher's (embedding dimension, 1 for scores).
    output_dim: int

    @abstractmethod
    def forward(self, batch: Any) -> torch.Tensor: ...

    @abstractmethod
    def save_artifact(self, path: Path) -> None:
        """Write the model in its own library's format (safetensors weights)."""
