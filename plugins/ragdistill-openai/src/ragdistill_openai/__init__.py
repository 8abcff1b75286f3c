"""ragdistill teachers backed by any OpenAI-compatible API.

Importing this package is cheap: the components (and httpx) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ragdistill_openai.chat import OpenAIChatGenerator
    from ragdistill_openai.embedder import OpenAIEmbedder
    from ragdistill_openai.errors import APIError, AuthenticationError, StreamCutError
    from ragdistill_openai.judge import OpenAIJudgeReranker
    from ragdistill_openai.query_transformer import OpenAIQueryTransformer

_EXPORTS = {
    "OpenAIEmbedder": "ragdistill_openai.embedder",
    "OpenAIChatGenerator": "ragdistill_openai.chat",
    "OpenAIQueryTransformer": "ragdistill_openai.query_transformer",
    "OpenAIJudgeReranker": "ragdistill_openai.judge",
    "APIError": "ragdistill_openai.errors",
    "AuthenticationError": "ragdistill_openai.errors",
    "StreamCutError": "ragdistill_openai.errors",
}

__all__ = [
    "APIError",
    "AuthenticationError",
    "OpenAIChatGenerator",
    "OpenAIEmbedder",
    "OpenAIJudgeReranker",
    "OpenAIQueryTransformer",
    "StreamCutError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ragdistill_openai' has no attribute {name!r}")
