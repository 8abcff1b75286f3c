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
    """One chat completion to produce. ``temperature`` 0 means greedy decoding.

    ``top_logprobs = k > 0`` asks for the ``k`` most likely tokens and their log-probs at
    every generated position (:attr:`Generation.logprobs`); a generator that cannot give
    them leaves ``logprobs`` as ``None``.
    """

    messages: tuple[Message, ...]
    max_new_tokens: int = 256
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    top_logprobs: int = 0

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("a generation request needs at least one message")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 <= self.top_logprobs <= 100:
            raise ValueError(f"top_logprobs must be in 0..100, got {self.top_logprobs}")


@dataclass(frozen=True)
class TokenLogprobs:
    """One generated position: the token chosen and the ``k`` most likely tokens.

    Ids are in the generating model's vocabulary; ``None`` (or an empty ``top_ids``) when
    the generator knows only token strings (an API that returns no ids).
    """

    token: str
    token_id: int | None
    logprob: float
    top_tokens: tuple[str, ...] = ()
    top_ids: tuple[int, ...] = ()
    top_logprobs: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.top_tokens) != len(self.top_logprobs):
            raise ValueError(
                f"top_tokens has {len(self.top_tokens)} entries but top_logprobs "
                f"{len(self.top_logprobs)}; they describe the same alternatives"
            )
        if self.top_ids and len(self.top_ids) != len(self.top_logprobs):
            raise ValueError(
                f"top_ids has {len(self.top_ids)} entries but top_logprobs {len(self.top_logprobs)}"
            )


@dataclass(frozen=True)
class Generation:
    """A completion. ``logprobs`` (one entry per generated token, the text's tokens in
    order) is set when the request asked for ``top_logprobs`` and the generator can."""

    text: str
    finish_reason: str = "stop"
    usage: dict[str, int] = field(default_factory=dict)
    logprobs: tuple[TokenLogprobs, ...] | None = None
