"""A teacher generator served by any OpenAI-compatible ``POST /chat/completions``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Literal

from ragdistill.contracts import Generation, GenerationRequest, Generator
from ragdistill.errors import ConfigError
from ragdistill_openai.base import OpenAIBacked, settings_from
from ragdistill_openai.client import DEFAULT_BASE_URL, OpenAIClient
from ragdistill_openai.errors import APIError

ENDPOINT = "chat/completions"
RESERVED = frozenset({"model", "messages", "stream", "temperature", "stop", "n"})


class OpenAIChatGenerator(OpenAIBacked, Generator):
    """Chat completions, one request per :class:`GenerationRequest`, run concurrently.

    ``max_new_tokens`` is sent as ``max_tokens`` (set ``max_tokens_param`` to
    ``"max_completion_tokens"`` for models that want that name), capped at
    ``max_tokens`` when it is set. ``extra_body`` adds fields such as ``top_p`` or
    ``seed`` to every request. Greedy requests (temperature 0) are cached; sampled ones
    are not unless ``cache_sampled`` is true, since a re-run should draw new samples.
    """

    def __init__(
        self,
        model: str,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_tokens: int | None = None,
        max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens",
        extra_body: dict[str, Any] | None = None,
        max_concurrency: int = 4,
        requests_per_minute: float | None = None,
        max_retries: int = 6,
        retry_backoff: float = 0.5,
        timeout: float = 60.0,
        cache_dir: str | None = None,
        cache: bool = True,
        cache_sampled: bool = False,
    ) -> None:
        if max_tokens is not None and max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1 (or unset), got {max_tokens}")
        self.extra_body = check_extra_body(extra_body)
        self._connect(model, settings_from(locals()))
        self.max_tokens = max_tokens
        self.max_tokens_param = max_tokens_param
        self.cache_sampled = cache_sampled
        self.batch_size = max(Generator.batch_size, max_concurrency)

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        bodies = [self._body(req) for req in requests]
        flags = [self._cacheable(req) for req in requests]
        return [
            _generation(r, self.client)
            for r in self.client.post_many(ENDPOINT, bodies, cache=flags)
        ]

    async def agenerate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        bodies = [self._body(req) for req in requests]
        flags = [self._cacheable(req) for req in requests]
        responses = await self.client.apost_many(ENDPOINT, bodies, cache=flags)
        return [_generation(r, self.client) for r in responses]

    def stream(self, req: GenerationRequest) -> Iterator[str]:
        """Text pieces as the server sends them (``stream: true``); a cache hit comes whole."""
        if (hit := self._cached(req)) is not None:
            yield hit
            return
        for event in self.client.stream(ENDPOINT, {**self._body(req), "stream": True}):
            if piece := _delta(event):
                yield piece

    async def astream(self, req: GenerationRequest) -> AsyncIterator[str]:
        if (hit := self._cached(req)) is not None:
            yield hit
            return
        async for event in self.client.astream(ENDPOINT, {**self._body(req), "stream": True}):
            if piece := _delta(event):
                yield piece

    def _body(self, req: GenerationRequest) -> dict[str, Any]:
        if not isinstance(req, GenerationRequest):
            raise TypeError(
                f"requests must be GenerationRequest objects (see ragdistill.contracts.request), "
                f"got {type(req).__name__}"
            )
        limit = min(req.max_new_tokens, self.max_tokens or req.max_new_tokens)
        body: dict[str, Any] = {
            **self.extra_body,
            "model": self.model,
            "messages": [m.to_dict() for m in req.messages],
            self.max_tokens_param: limit,
            "temperature": req.temperature,
        }
        if req.stop:
            body["stop"] = list(req.stop)
        return body

    def _cacheable(self, req: GenerationRequest) -> bool:
        return req.temperature == 0 or self.cache_sampled

    def _cached(self, req: GenerationRequest) -> str | None:
        if not self._cacheable(req):
            return None
        key = self.client.key(ENDPOINT, self._body(req))
        response = self.client.cached([key]).get(key)
        return None if response is None else _generation(response, self.client).text


def check_extra_body(extra_body: Mapping[str, Any] | None) -> dict[str, Any]:
    extra = dict(extra_body or {})
    if clash := sorted(RESERVED & set(extra)):
        raise ConfigError(
            f"extra_body may not set {', '.join(clash)}: those come from the request and "
            f"the component's own options"
        )
    return extra


def first_choice(response: Mapping[str, Any], client: OpenAIClient) -> dict[str, Any]:
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise APIError(f"{client.base_url}/{ENDPOINT} returned a response without `choices`")
    return choices[0]


def message_text(choice: Mapping[str, Any]) -> str:
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else choice.get("text")
    return content if isinstance(content, str) else ""


def _generation(response: Mapping[str, Any], client: OpenAIClient) -> Generation:
    choice = first_choice(response, client)
    usage = response.get("usage")
    counts = (
        {k: v for k, v in usage.items() if isinstance(v, int)} if isinstance(usage, dict) else {}
    )
    return Generation(message_text(choice), choice.get("finish_reason") or "stop", counts)


def _delta(event: Mapping[str, Any]) -> str:
    choices = event.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""  # e.g. a final usage-only event
    delta = choices[0].get("delta")
    content = delta.get("content") if isinstance(delta, dict) else choices[0].get("text")
    return content if isinstance(content, str) else ""
