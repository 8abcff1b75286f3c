"""A teacher query transformer: an LLM behind ``/chat/completions`` rewrites or expands
queries, or writes a hypothetical answer passage (HyDE)."""

from __future__ import annotations

from typing import Any, get_args

from ragdistill.contracts import GenerationRequest, QueryRequest, QueryTransformer, request
from ragdistill.errors import ConfigError
from ragdistill.query_parsing import Task, TaskedQueries
from ragdistill_openai.base import OpenAIBacked, settings_from
from ragdistill_openai.chat import OpenAIChatGenerator
from ragdistill_openai.policy import DEFAULT_BASE_URL

REWRITE_PROMPT = (
    "You rewrite the user's latest message as one stand-alone search query. Use the "
    "conversation, if any, to resolve pronouns and references; keep every name, number and "
    "constraint; add nothing else. Reply with the query only."
)
EXPAND_PROMPT = (
    "You write {num_queries} different search queries that together would find the documents "
    "needed to answer the user's latest message. Make each query stand alone (resolve "
    "references using the conversation, if any) and vary wording and angle. Reply on one "
    'line with the queries separated by " ||| " and nothing else: no numbering, bullets, '
    "quotes or commentary."
)
HYDE_PROMPT = (
    "You write a short passage, two or three sentences, that answers the user's latest "
    "message as a document about it would (use the conversation, if any, to resolve "
    "references). Reply with the passage only."
)


class OpenAIQueryTransformer(TaskedQueries, OpenAIBacked, QueryTransformer):
    """Conversational rewrite, multi-query expansion, or a HyDE passage.

    ``task = "auto"`` rewrites when one query is requested and expands otherwise;
    ``"rewrite"``, ``"expand"`` (always ``num_queries`` alternatives) and ``"hyde"`` (one
    passage, embedded instead of the query) fix it, as the query-transformer stage does
    when it distills this teacher. ``rewrite_prompt``, ``expand_prompt`` and
    ``hyde_prompt`` are the system prompts; the expansion one may use ``{num_queries}``.
    The user turn is the query alone, or the conversation followed by the latest message.

    :attr:`generator` is an :class:`OpenAIChatGenerator` for the same model on this
    component's own client (one connection pool, cache and rate limit); every request
    goes through it, as :meth:`generation_request` describes it, and its reply is read by
    :meth:`parse`. Replies are parsed leniently (:mod:`ragdistill.query_parsing`):
    ``|||`` or line breaks between queries, numbering, bullets, labels such as
    ``Query 1:``, quotes, preambles and ``<think>`` blocks removed. A reply with nothing
    usable falls back to the original query (the contract's rule).
    """

    def __init__(
        self,
        model: str,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        rewrite_prompt: str = REWRITE_PROMPT,
        expand_prompt: str = EXPAND_PROMPT,
        hyde_prompt: str = HYDE_PROMPT,
        task: Task = "auto",
        num_queries: int = 3,
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
        if task not in get_args(Task):
            raise ConfigError(f"task must be one of {', '.join(get_args(Task))}; got {task!r}")
        if isinstance(num_queries, bool) or not isinstance(num_queries, int) or num_queries < 1:
            raise ConfigError(f"num_queries must be an integer >= 1, got {num_queries!r}")
        if temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {temperature}")
        if max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
        self._connect(model, settings_from(locals()))
        # No max_tokens of its own: the request's budget (this component's max_tokens, or
        # the stage's when it distills) is what is sent.
        self.generator = OpenAIChatGenerator.sharing(
            self.client, model, extra_body=extra_body, cache_sampled=cache_sampled
        )
        self.extra_body = self.generator.extra_body
        self.rewrite_prompt = rewrite_prompt
        self.expand_prompt = expand_prompt
        self.hyde_prompt = hyde_prompt
        self.task: Task = task
        self.num_queries = num_queries
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.cache_sampled = cache_sampled
        self.batch_size = max(QueryTransformer.batch_size, max_concurrency)

    def transform_batch(self, requests: list[QueryRequest]) -> list[list[str]]:
        generations = self.generator.generate_batch([self.generation_request(r) for r in requests])
        return [self._queries(g.text, r) for g, r in zip(generations, requests, strict=True)]

    async def atransform_batch(self, requests: list[QueryRequest]) -> list[list[str]]:
        asked = [self.generation_request(r) for r in requests]
        generations = await self.generator.agenerate_batch(asked)
        return [self._queries(g.text, r) for g, r in zip(generations, requests, strict=True)]

    def messages(self, req: QueryRequest) -> list[dict[str, str]]:
        """The chat messages sent for one request (public for inspection and tests)."""
        task = self.task_of(req)
        if task == "expand":
            system = self.expand_prompt.format(num_queries=self.count_of(req))
        elif task == "hyde":
            system = self.hyde_prompt
        else:
            system = self.rewrite_prompt
        if req.history:
            turns = "\n".join(f"{m.role}: {m.content}" for m in req.history)
            user = f"Conversation:\n{turns}\n\nLatest message: {req.query}"
        else:
            user = req.query
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def generation_request(self, req: QueryRequest) -> GenerationRequest:
        """What :meth:`transform_batch` asks :attr:`generator` for ``req`` (what
        distillation stores): :meth:`messages` with this component's budget and temperature."""
        return request(
            self.messages(req), max_new_tokens=self.max_tokens, temperature=self.temperature
        )

    def _queries(self, text: str, req: QueryRequest) -> list[str]:
        return self.parse(text, req) or [req.query]
