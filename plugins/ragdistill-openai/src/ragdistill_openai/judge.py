"""A teacher reranker: an LLM behind ``/chat/completions`` judges relevance, yes or no.

Each (query, document) pair is one request for a single token with
``logprobs: true`` and ``top_logprobs``. The score is ``logprob(yes) - logprob(no)``
over the first token's alternatives (``"Yes"``, ``" yes"``, ``"YES."`` count as yes); a
token missing from the alternatives counts as ``logprob_floor``. That log-odds is a
smooth, well-ordered relevance score, which is what a student reranker learns from.

Servers that return no logprobs (some compatible servers ignore the field) get a
coarse fallback from the reply text: 1.0 if it starts with "yes", else 0.0. Those
scores only separate relevant from irrelevant; enable logprobs on the server (for
vLLM they are on by default) for a ranking within each group.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ragdistill.contracts import FloatArray, Pair, Reranker
from ragdistill.errors import ConfigError
from ragdistill_openai.base import OpenAIBacked, settings_from
from ragdistill_openai.chat import ENDPOINT, check_extra_body, first_choice, message_text
from ragdistill_openai.policy import DEFAULT_BASE_URL

SYSTEM_PROMPT = (
    "You judge whether a document is relevant to a search query, that is, whether it helps "
    "answer the query. Answer with one word: yes or no."
)
PROMPT = (
    "Query: {query}\nDocument: {document}\n\n"
    "Is the document relevant to the query? Answer yes or no."
)


class OpenAIJudgeReranker(OpenAIBacked, Reranker):
    """Relevance scores from an LLM judge's yes/no log-odds (see the module docstring).

    ``prompt`` must contain ``{query}`` and ``{document}``; documents longer than
    ``max_document_chars`` are cut to that length first.
    """

    def __init__(
        self,
        model: str,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        system_prompt: str = SYSTEM_PROMPT,
        prompt: str = PROMPT,
        max_document_chars: int | None = 4000,
        top_logprobs: int = 5,
        logprob_floor: float = -20.0,
        extra_body: dict[str, Any] | None = None,
        max_concurrency: int = 4,
        requests_per_minute: float | None = None,
        max_retries: int = 6,
        retry_backoff: float = 0.5,
        timeout: float = 60.0,
        cache_dir: str | None = None,
        cache: bool = True,
    ) -> None:
        missing = [p for p in ("{query}", "{document}") if p not in prompt]
        if missing:
            raise ConfigError(f"prompt must contain {' and '.join(missing)}; got {prompt!r:.120}")
        try:
            prompt.format(query="q", document="d")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"prompt may only use {{query}} and {{document}} (write literal braces as "
                f"{{{{ }}}}); formatting it failed: {exc!r}"
            ) from None
        if not 1 <= top_logprobs <= 20:
            raise ConfigError(f"top_logprobs must be between 1 and 20, got {top_logprobs}")
        if max_document_chars is not None and max_document_chars < 1:
            raise ConfigError(
                f"max_document_chars must be >= 1 (or unset), got {max_document_chars}"
            )
        self.extra_body = check_extra_body(extra_body)
        self._connect(model, settings_from(locals()))
        self.system_prompt = system_prompt
        self.prompt = prompt
        self.max_document_chars = max_document_chars
        self.top_logprobs = top_logprobs
        self.logprob_floor = logprob_floor
        self.batch_size = max(Reranker.batch_size, max_concurrency)

    def score_pairs(self, pairs: list[Pair]) -> FloatArray:
        return self._scores(self.client.post_many(ENDPOINT, self._bodies(pairs)))

    async def ascore_pairs(self, pairs: list[Pair]) -> FloatArray:
        return self._scores(await self.client.apost_many(ENDPOINT, self._bodies(pairs)))

    def _bodies(self, pairs: list[Pair]) -> list[dict[str, Any]]:
        return [
            {
                **self.extra_body,
                "model": self.model,
                "messages": [
                    {"role": "system", "content": self.system_prompt},
                    {"role": "user", "content": self._user(query, document)},
                ],
                "max_tokens": 1,
                "temperature": 0,
                "logprobs": True,
                "top_logprobs": self.top_logprobs,
            }
            for query, document in pairs
        ]

    def _user(self, query: str, document: str) -> str:
        if self.max_document_chars is not None:
            document = document[: self.max_document_chars]
        return self.prompt.format(query=query, document=document)

    def _scores(self, responses: list[dict[str, Any]]) -> FloatArray:
        scores = [judge_score(first_choice(r, self.client), self.logprob_floor) for r in responses]
        return np.asarray(scores, dtype=np.float32)


def judge_score(choice: Mapping[str, Any], floor: float = -20.0) -> float:
    """``logprob(yes) - logprob(no)`` of the first token, or 1.0/0.0 from the text."""
    alternatives = first_token_logprobs(choice)
    if alternatives:
        yes = _class_logprob(alternatives, "yes")
        no = _class_logprob(alternatives, "no")
        return max(yes, floor) - max(no, floor)
    return 1.0 if _normalise(message_text(choice)).startswith("yes") else 0.0


def first_token_logprobs(choice: Mapping[str, Any]) -> dict[str, float]:
    """Token -> logprob for the first generated token and its top alternatives."""
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        return {}
    out: dict[str, float] = {}
    content = logprobs.get("content")
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        for item in [first, *(first.get("top_logprobs") or [])]:
            if isinstance(item, dict) and isinstance(item.get("token"), str):
                value = item.get("logprob")
                if isinstance(value, int | float):
                    out[item["token"]] = float(value)
        return out
    top = logprobs.get("top_logprobs")  # the legacy completions shape: [{token: logprob}]
    if isinstance(top, list) and top and isinstance(top[0], dict):
        return {t: float(v) for t, v in top[0].items() if isinstance(v, int | float)}
    return {}


def _class_logprob(alternatives: Mapping[str, float], word: str) -> float:
    # Several tokens can spell the answer ("Yes", " yes"): their probabilities add up.
    values = [lp for token, lp in alternatives.items() if _normalise(token) == word]
    if not values:
        return -math.inf
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))


def _normalise(text: str) -> str:
    # "▁" and "Ġ" are the word-start marks of sentencepiece and byte-level BPE tokens.
    return text.strip().lstrip("▁Ġ").strip().lower().strip(".,!:;\"'")
