"""LangChain messages <-> ragdistill messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    convert_to_messages,
)

from ragdistill.contracts import Message

# ChatMessage roles LangChain and its providers use, mapped to ragdistill's three.
_CHAT_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
}


def to_ragdistill(messages: Sequence[Any]) -> tuple[Message, ...]:
    """Messages, ``(role, content)`` tuples or ``{"role", "content"}`` dicts as ragdistill's."""
    return tuple(_one(i, m) for i, m in enumerate(convert_to_messages(list(messages))))


def _one(i: int, message: BaseMessage) -> Message:
    if isinstance(message, SystemMessage):
        role = "system"
    elif isinstance(message, HumanMessage):
        role = "user"
    elif isinstance(message, AIMessage):
        role = "assistant"
    elif isinstance(message, ChatMessage) and message.role.lower() in _CHAT_ROLES:
        role = _CHAT_ROLES[message.role.lower()]
    else:
        raise ValueError(
            f"messages[{i}] is a {type(message).__name__}, which ragdistill generators do not "
            "take: pass system, human and AI messages only (tool calls are not supported)"
        )
    return Message(role, str(message.text))  # type: ignore[arg-type]
