"""ragdistill: distill the expensive stages of a RAG stack into small, fast students."""

from __future__ import annotations

__version__ = "0.1.0"
