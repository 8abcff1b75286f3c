"""Chat messages and requests shared by the query-transformer and generator contracts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"message role must be one of {ROLES}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise TypeError(f"message content must be a str, got {type(self.content).__name__}")

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


MessageLike = Message | Mapping[str, str]


def to_messages(items: str | Sequence[MessageLike]) -> tuple[Message, ...]:
    """A prompt string (one user turn) or ``{"role", "content"}`` dicts -> Messages."""
    if isinstance(items, str):
        return (Message("user", items),)
    out = []
    for i, item in enumerate(items):
        if isinstance(item, Message):
            out.append(item)
        elif isinstance(item, Mapping) and {"role", "content"} <= set(item):
            out.append(Message(item["role"], item["content"]))  # type: ignore[arg-type]
        else:
            raise TypeError(f"messages[{i}] must be a Message or a {{'role', 'content'}} dict")
    return tuple(out)


@dataclass(frozen=True)
class QueryRequest:
    """A query to rewrite or expand, with the conversation that came before it."""

    query: str
    history: tuple[Message, ...] = ()
    num_queries: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.query, str):
            raise TypeError(f"query must be a str, got {type(self.query).__name__}")
        if self.num_queries < 1:
            raise ValueError(f"num_queries must be >= 1, got {self.num_queries}")


@dataclass(frozen=True)
class GenerationRequest:
    """One chat completion to produce. ``temperature`` 0 means greedy decoding."""

    messages: tuple[Message, ...]
    max_new_tokens: int = 256
    temperature: float = 0.0
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("a generation request needs at least one message")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: str = "stop"
    usage: dict[str, int] = field(default_factory=dict)
