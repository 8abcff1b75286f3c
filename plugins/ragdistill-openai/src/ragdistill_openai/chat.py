"""A teacher generator served by any OpenAI-compatible ``POST /chat/completions``."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Literal

from ragdistill.contracts import Generation, GenerationRequest, Generator, TokenLogprobs
from ragdistill.errors import ConfigError
from ragdistill_openai.base import OpenAIBacked, public_connection, settings_from
from ragdistill_openai.client import DEFAULT_BASE_URL, OpenAIClient
from ragdistill_openai.errors import APIError, StreamCutError
from ragdistill_openai.policy import retry_delay

ENDPOINT = "chat/completions"
RESERVED = frozenset({"model", "messages", "stream", "temperature", "stop", "n"})
#: Body fields asking for token log-probs; they come from ``top_logprobs`` (a request's)
#: and ``token_ids_in_logprobs`` (the component's), never from ``extra_body``.
LOGPROB_FIELDS = frozenset({"logprobs", "top_logprobs", "return_tokens_as_token_ids"})
_TOKEN_ID = re.compile(r"token_id:(\d+)")


class OpenAIChatGenerator(OpenAIBacked, Generator):
    """Chat completions, one request per :class:`GenerationRequest`, run concurrently.

    ``max_new_tokens`` is sent as ``max_tokens`` (set ``max_tokens_param`` to
    ``"max_completion_tokens"`` for models that want that name), capped at
    ``max_tokens`` when it is set. ``extra_body`` adds fields such as ``top_p`` or
    ``seed`` to every request. Greedy requests (temperature 0) are cached; sampled ones
    are not unless ``cache_sampled`` is true, since a re-run should draw new samples.

    A request with ``top_logprobs = k > 0`` is sent with ``"logprobs": true,
    "top_logprobs": k`` and gets :attr:`Generation.logprobs` from
    ``choices[0].logprobs.content``, one entry per position the server reports (OpenAI
    and vLLM: each generated token), with the server's token strings and no ids. A
    server that ignores the fields (many do) leaves ``logprobs`` as ``None``. With
    ``token_ids_in_logprobs`` the body also carries ``"return_tokens_as_token_ids": true``
    (vLLM), whose ``"token_id:1234"`` tokens become ``token_id`` / ``top_ids``; a token
    given only as an id has ``""`` as its string. The streaming methods never ask for
    log-probs: they yield text only.
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
        token_ids_in_logprobs: bool = False,
    ) -> None:
        self._configure(
            max_tokens, max_tokens_param, extra_body, cache_sampled, token_ids_in_logprobs
        )
        self._connect(model, settings_from(locals()))
        self.batch_size = max(Generator.batch_size, max_concurrency)

    @classmethod
    def sharing(
        cls,
        client: OpenAIClient,
        model: str,
        *,
        max_tokens: int | None = None,
        max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens",
        extra_body: dict[str, Any] | None = None,
        cache_sampled: bool = False,
        token_ids_in_logprobs: bool = False,
    ) -> OpenAIChatGenerator:
        """A generator for ``model`` that sends through ``client``, another component's.

        One connection pool, response cache, concurrency limit and rate limit serve both,
        and the API key stays in the client's settings alone. :attr:`options` are what a
        recipe table building the same generator would hold, less ``api_key``, so
        :meth:`describe` identifies it as such a table would. Closing either component
        closes the shared client (it reopens when used again).
        """
        generator = cls.__new__(cls)
        generator._configure(
            max_tokens, max_tokens_param, extra_body, cache_sampled, token_ids_in_logprobs
        )
        generator._attach(model, client)
        generator.batch_size = max(Generator.batch_size, client.settings.max_concurrency)
        generator.options = {
            "model": model,
            **public_connection(client.settings),
            "max_tokens": max_tokens,
            "max_tokens_param": max_tokens_param,
            "extra_body": dict(generator.extra_body),
            "cache_sampled": cache_sampled,
            "token_ids_in_logprobs": token_ids_in_logprobs,
        }
        return generator

    def _configure(
        self,
        max_tokens: int | None,
        max_tokens_param: Literal["max_tokens", "max_completion_tokens"],
        extra_body: dict[str, Any] | None,
        cache_sampled: bool,
        token_ids_in_logprobs: bool,
    ) -> None:
        """Check and set the options that are not the connection's."""
        if max_tokens is not None and max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1 (or unset), got {max_tokens}")
        if max_tokens_param not in ("max_tokens", "max_completion_tokens"):
            raise ConfigError(
                f'max_tokens_param must be "max_tokens" or "max_completion_tokens", '
                f"got {max_tokens_param!r}"
            )
        if clash := sorted(LOGPROB_FIELDS & set(extra_body or {})):
            raise ConfigError(
                f"extra_body may not set {', '.join(clash)}: ask for log-probs with a request's "
                f"top_logprobs (and token ids with the token_ids_in_logprobs option)"
            )
        self.extra_body = check_extra_body(extra_body)
        self.max_tokens = max_tokens
        self.max_tokens_param = max_tokens_param
        self.cache_sampled = cache_sampled
        self.token_ids_in_logprobs = token_ids_in_logprobs

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        bodies = [self._body(req) for req in requests]
        flags = [self._cacheable(req) for req in requests]
        return self._generations(self.client.post_many(ENDPOINT, bodies, cache=flags), requests)

    async def agenerate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        bodies = [self._body(req) for req in requests]
        flags = [self._cacheable(req) for req in requests]
        responses = await self.client.apost_many(ENDPOINT, bodies, cache=flags)
        return self._generations(responses, requests)

    def stream(self, req: GenerationRequest) -> Iterator[str]:
        """Text pieces as the server sends them (``stream: true``); a cache hit comes whole.

        A stream that breaks off (or ends without ``data: [DONE]``) before any text was
        yielded is requested again, up to ``max_retries`` times; after text was yielded
        it raises :class:`APIError` saying how much arrived, since a new request would
        repeat it. One that breaks after its ``finish_reason`` event is complete.
        """
        if (hit := self._cached(req)) is not None:
            yield hit
            return
        body = self._stream_body(req)
        for attempt in itertools.count():
            received = _Received()
            try:
                for event in self.client.stream(ENDPOINT, body):
                    if piece := received.add(event):
                        yield piece
                return
            except StreamCutError as exc:
                if received.finished:
                    return  # only the [DONE] line was lost
                delay = self._restart_delay(exc, attempt, received)
            time.sleep(delay)

    async def astream(self, req: GenerationRequest) -> AsyncIterator[str]:
        """Async :meth:`stream`."""
        if (hit := self._cached(req)) is not None:
            yield hit
            return
        body = self._stream_body(req)
        for attempt in itertools.count():
            received = _Received()
            try:
                async for event in self.client.astream(ENDPOINT, body):
                    if piece := received.add(event):
                        yield piece
                return
            except StreamCutError as exc:
                if received.finished:
                    return
                delay = self._restart_delay(exc, attempt, received)
            await asyncio.sleep(delay)

    def _restart_delay(self, exc: StreamCutError, attempt: int, received: _Received) -> float:
        """Seconds before requesting a broken stream again; raises when it may not be."""
        if received.pieces:
            raise StreamCutError(
                f"{exc} after {received.chars} characters of text ({received.pieces} pieces) "
                "had been handed on; that answer is incomplete. Request it again: a stream "
                "cannot be resumed, and a silent retry would repeat the text already given"
            ) from exc
        url = f"{self.client.base_url}/{ENDPOINT}"
        delay = retry_delay(exc, attempt=attempt, url=url, settings=self.client.settings)
        assert delay is not None  # an exception is never a success
        return delay

    def _generations(
        self, responses: list[dict[str, Any]], requests: list[GenerationRequest]
    ) -> list[Generation]:
        return [
            _generation(r, q, self.client, self.token_ids_in_logprobs)
            for r, q in zip(responses, requests, strict=True)
        ]

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
        if req.top_logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = req.top_logprobs
            if self.token_ids_in_logprobs:
                body["return_tokens_as_token_ids"] = True
        return body

    def _stream_body(self, req: GenerationRequest) -> dict[str, Any]:
        body = {k: v for k, v in self._body(req).items() if k not in LOGPROB_FIELDS}
        return {**body, "stream": True}

    def _cacheable(self, req: GenerationRequest) -> bool:
        return req.temperature == 0 or self.cache_sampled

    def _cached(self, req: GenerationRequest) -> str | None:
        if not self._cacheable(req):
            return None
        key = self.client.key(ENDPOINT, self._body(req))
        response = self.client.cached([key]).get(key)
        return None if response is None else message_text(first_choice(response, self.client))


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


def parse_logprobs(
    choice: Mapping[str, Any], ids: bool = False
) -> tuple[TokenLogprobs, ...] | None:
    """``choice["logprobs"]["content"]`` as :class:`TokenLogprobs`, or ``None``.

    ``None`` when the server sent none, or sent a shape this does not know (an entry
    without a string ``token`` and a numeric ``logprob``): positions must line up with
    the completion, so a half-read list is worse than none. With ``ids``, a
    ``"token_id:N"`` token (vLLM's ``return_tokens_as_token_ids``) gives id ``N`` and
    string ``""``; ``top_ids`` is filled only when every alternative came as an id.
    """
    logprobs = choice.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list):
        return None
    out = []
    for entry in content:
        chosen = _token(entry, ids)
        alternatives = entry.get("top_logprobs") if isinstance(entry, dict) else None
        if chosen is None or not isinstance(alternatives, list | None):
            return None
        top = [_token(alt, ids) for alt in alternatives or []]
        known = [t for t in top if t is not None]
        if len(known) < len(top):
            return None
        top_ids = [t[1] for t in known if t[1] is not None]
        out.append(
            TokenLogprobs(
                token=chosen[0],
                token_id=chosen[1],
                logprob=chosen[2],
                top_tokens=tuple(t[0] for t in known),
                top_ids=tuple(top_ids) if len(top_ids) == len(known) else (),
                top_logprobs=tuple(t[2] for t in known),
            )
        )
    return tuple(out)


def _token(item: Any, ids: bool) -> tuple[str, int | None, float] | None:
    """(string, id, logprob) of one ``{token, logprob, ...}`` item; ``None`` if malformed."""
    if not isinstance(item, dict):
        return None
    token, logprob = item.get("token"), item.get("logprob")
    if not isinstance(token, str) or isinstance(logprob, bool):
        return None
    if not isinstance(logprob, int | float):
        return None
    if ids and (match := _TOKEN_ID.fullmatch(token)):
        return "", int(match.group(1)), float(logprob)
    return token, None, float(logprob)


def _generation(
    response: Mapping[str, Any], req: GenerationRequest, client: OpenAIClient, ids: bool
) -> Generation:
    choice = first_choice(response, client)
    usage = response.get("usage")
    counts = (
        {k: v for k, v in usage.items() if isinstance(v, int)} if isinstance(usage, dict) else {}
    )
    logprobs = parse_logprobs(choice, ids) if req.top_logprobs else None
    return Generation(message_text(choice), choice.get("finish_reason") or "stop", counts, logprobs)


class _Received:
    """What one streamed response has handed on so far."""

    def __init__(self) -> None:
        self.pieces = 0
        self.chars = 0
        self.finished = False

    def add(self, event: Mapping[str, Any]) -> str:
        """The text piece of ``event`` (``""`` if none), counted as handed on."""
        choices = event.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            self.finished = self.finished or bool(choices[0].get("finish_reason"))
        piece = _delta(event)
        if piece:
            self.pieces += 1
            self.chars += len(piece)
        return piece


def _delta(event: Mapping[str, Any]) -> str:
    choices = event.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""  # e.g. a final usage-only event
    delta = choices[0].get("delta")
    content = delta.get("content") if isinstance(delta, dict) else choices[0].get("text")
    return content if isinstance(content, str) else ""
