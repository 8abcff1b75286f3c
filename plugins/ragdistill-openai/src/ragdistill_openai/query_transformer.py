"""A teacher query transformer: an LLM behind ``/chat/completions`` rewrites or expands queries."""

from __future__ import annotations

from typing import Any

from ragdistill.contracts import QueryRequest, QueryTransformer
from ragdistill.errors import ConfigError
from ragdistill.query_parsing import parse_queries, parse_rewrite
from ragdistill_openai.base import OpenAIBacked, settings_from
from ragdistill_openai.chat import ENDPOINT, check_extra_body, first_choice, message_text
from ragdistill_openai.policy import DEFAULT_BASE_URL

REWRITE_PROMPT = (
    "You rewrite the user's latest message as one stand-alone search query. Use the "
    "conversation, if any, to resolve pronouns and references; keep every name, number and "
    "constraint; add nothing else. Reply with the query only."
)
EXPAND_PROMPT = (
    "You write {num_queries} different search queries that together would find the documents "
    "needed to answer the user's latest message. Make each query stand alone (resolve "
    "references using the conversation, if any) and vary wording and angle. Reply with one "
    "query per line and nothing else: no numbering, bullets, quotes or commentary."
)


class OpenAIQueryTransformer(OpenAIBacked, QueryTransformer):
    """Conversational rewrite (``num_queries == 1``) or multi-query expansion.

    ``rewrite_prompt`` and ``expand_prompt`` are the system prompts; the expansion one
    may use ``{num_queries}``. The user turn is the query alone, or the conversation
    followed by the latest message. Replies are parsed leniently: numbering, bullets,
    labels such as ``Query 1:``, quotes, preambles and ``<think>`` blocks are removed.
    A reply with no usable line falls back to the original query (the contract's rule).
    """

    def __init__(
        self,
        model: str,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        rewrite_prompt: str = REWRITE_PROMPT,
        expand_prompt: str = EXPAND_PROMPT,
        temperature: float = 0.0,
        max_tokens: int = 256,
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
        try:
            expand_prompt.format(num_queries=3)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"expand_prompt may only use the placeholder {{num_queries}} (write literal "
                f"braces as {{{{ }}}}); formatting it failed: {exc!r}"
            ) from None
        if temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {temperature}")
        if max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
        self.extra_body = check_extra_body(extra_body)
        self._connect(model, settings_from(locals()))
        self.rewrite_prompt = rewrite_prompt
        self.expand_prompt = expand_prompt
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.cache_sampled = cache_sampled
        self.batch_size = max(QueryTransformer.batch_size, max_concurrency)

    def transform_batch(self, requests: list[QueryRequest]) -> list[list[str]]:
        responses = self.client.post_many(ENDPOINT, self._bodies(requests), cache=self._cacheable)
        return self._parse(requests, responses)

    async def atransform_batch(self, requests: list[QueryRequest]) -> list[list[str]]:
        bodies = self._bodies(requests)
        responses = await self.client.apost_many(ENDPOINT, bodies, cache=self._cacheable)
        return self._parse(requests, responses)

    @property
    def _cacheable(self) -> bool:
        return self.temperature == 0 or self.cache_sampled

    def messages(self, req: QueryRequest) -> list[dict[str, str]]:
        """The chat messages sent for one request (public for inspection and tests)."""
        if req.num_queries == 1:
            system = self.rewrite_prompt
        else:
            system = self.expand_prompt.format(num_queries=req.num_queries)
        if req.history:
            turns = "\n".join(f"{m.role}: {m.content}" for m in req.history)
            user = f"Conversation:\n{turns}\n\nLatest message: {req.query}"
        else:
            user = req.query
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def _bodies(self, requests: list[QueryRequest]) -> list[dict[str, Any]]:
        return [
            {
                **self.extra_body,
                "model": self.model,
                "messages": self.messages(req),
                "max_tokens": self.max_tokens,
                "temperature": self.temperature,
            }
            for req in requests
        ]

    def _parse(
        self, requests: list[QueryRequest], responses: list[dict[str, Any]]
    ) -> list[list[str]]:
        out = []
        for req, response in zip(requests, responses, strict=True):
            reply = message_text(first_choice(response, self.client))
            if req.num_queries == 1:
                queries = parse_rewrite(reply)
            else:
                queries = parse_queries(reply, req.num_queries)
            out.append(queries or [req.query])
        return out
