"""LlamaIndex chat messages <-> ragdistill messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole

from ragdistill.contracts import Message

# ragdistill models know three roles; LlamaIndex's others map to the nearest one.
_ROLES = {
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "system",
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
}


def to_ragdistill(messages: Sequence[ChatMessage | Mapping[str, Any]]) -> tuple[Message, ...]:
    """Chat messages (or ``{"role", "content"}`` dicts) as ragdistill messages."""
    out = []
    for i, message in enumerate(messages):
        if isinstance(message, Mapping):
            message = ChatMessage(role=message["role"], content=message["content"])
        role = _ROLES.get(MessageRole(message.role))
        if role is None:
            raise ValueError(
                f"messages[{i}] has role {message.role!r}, which ragdistill generators do not "
                f"take; use one of {sorted({r.value for r in _ROLES})}"
            )
        out.append(Message(role, message.content or ""))  # type: ignore[arg-type]
    return tuple(out)
