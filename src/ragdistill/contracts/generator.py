"""The generator contract: chat requests in, completions out (streaming optional)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, ClassVar, Literal

from ragdistill.contracts.base import Component, check_count
from ragdistill.contracts.messages import (
    Generation,
    GenerationRequest,
    MessageLike,
    to_messages,
)
from ragdistill.errors import ContractError


class Generator(Component):
    """Implement :meth:`generate_batch`; override :meth:`stream` for token streaming."""

    stage: ClassVar[Literal["generator"]] = "generator"
    #: Whether the ``model`` option also names the tokenizer (a local model does; an API
    #: does not), which token-level distillation compares with the student's.
    tokenizer_is_model: ClassVar[bool] = False
    batch_size: int = 8

    @abstractmethod
    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        """One :class:`Generation` per request, in order."""

    def generate_many(
        self, requests: Sequence[GenerationRequest], *, batch_size: int | None = None
    ) -> list[Generation]:
        items = list(requests)
        for i, req in enumerate(items):
            if not isinstance(req, GenerationRequest):
                raise TypeError(
                    f"requests[{i}] must be a GenerationRequest, got {type(req).__name__}; "
                    "build one with ragdistill.contracts.request(prompt, ...)"
                )
        out: list[Generation] = []
        for batch in self._batches(items, batch_size):
            out.extend(self._checked(self.generate_batch(list(batch)), len(batch)))
        return out

    def generate(self, prompt: str | Sequence[MessageLike], **params: Any) -> Generation:
        """Complete a prompt string or a list of chat messages."""
        return self.generate_many([request(prompt, **params)])[0]

    def complete(self, prompt: str | Sequence[MessageLike], **params: Any) -> str:
        return self.generate(prompt, **params).text

    def stream(self, req: GenerationRequest) -> Iterator[str]:
        """Yield the completion in pieces; by default one piece, the whole text."""
        yield self.generate_many([req])[0].text

    async def agenerate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        """Async :meth:`generate_batch`; runs it in a thread unless overridden."""
        result: list[Generation] = await self._in_thread(self.generate_batch, requests)
        return result

    async def agenerate(self, prompt: str | Sequence[MessageLike], **params: Any) -> Generation:
        return self._checked(await self.agenerate_batch([request(prompt, **params)]), 1)[0]

    async def astream(self, req: GenerationRequest) -> AsyncIterator[str]:
        """Async :meth:`stream`; pulls the sync iterator in a thread, piece by piece."""
        iterator = self.stream(req)
        sentinel = object()
        while True:
            piece = await self._in_thread(next, iterator, sentinel)
            if piece is sentinel:
                return
            yield piece

    def _checked(self, out: list[Generation], expected: int) -> list[Generation]:
        check_count(self, "generate_batch", len(out), expected)
        for gen in out:
            if not isinstance(gen, Generation):
                raise ContractError(
                    f"{type(self).__qualname__}.generate_batch must return Generation objects, "
                    f"got {type(gen).__name__}"
                )
        return out


def request(prompt: str | Sequence[MessageLike], **params: Any) -> GenerationRequest:
    """Build a :class:`GenerationRequest` from a prompt or messages plus parameters."""
    if isinstance(params.get("stop"), list):
        params["stop"] = tuple(params["stop"])
    return GenerationRequest(to_messages(prompt), **params)
