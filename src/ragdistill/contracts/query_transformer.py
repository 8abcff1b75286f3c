"""The query-transformer contract: a query (and its conversation) in, rewritten queries out.

One output is a conversational rewrite (make the query stand alone); several are an
expansion for multi-query retrieval or reciprocal-rank fusion.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Literal, Protocol, runtime_checkable

from ragdistill.contracts.base import Component, check_count
from ragdistill.contracts.generator import Generator
from ragdistill.contracts.messages import (
    GenerationRequest,
    MessageLike,
    QueryRequest,
    to_messages,
)
from ragdistill.errors import ContractError


class QueryTransformer(Component):
    """Implement :meth:`transform_batch`."""

    stage: ClassVar[Literal["query_transformer"]] = "query_transformer"

    @abstractmethod
    def transform_batch(self, requests: list[QueryRequest]) -> list[list[str]]:
        """For each request, between 1 and ``num_queries`` non-empty queries."""

    def transform_many(
        self, requests: Sequence[QueryRequest], *, batch_size: int | None = None
    ) -> list[list[str]]:
        items = list(requests)
        for i, req in enumerate(items):
            if not isinstance(req, QueryRequest):
                raise TypeError(f"requests[{i}] must be a QueryRequest, got {type(req).__name__}")
        out: list[list[str]] = []
        for batch in self._batches(items, batch_size):
            out.extend(self._checked(self.transform_batch(list(batch)), list(batch)))
        return out

    def transform(
        self, query: str, history: Sequence[MessageLike] = (), *, num_queries: int = 1
    ) -> list[str]:
        """Rewrites of one query; ``history`` is the chat so far (oldest first)."""
        req = QueryRequest(query, to_messages(list(history)), num_queries)
        return self.transform_many([req])[0]

    def rewrite(self, query: str, history: Sequence[MessageLike] = ()) -> str:
        """The single best stand-alone rewrite of ``query``."""
        return self.transform(query, history, num_queries=1)[0]

    def expand(self, query: str, num_queries: int = 4) -> list[str]:
        """Up to ``num_queries`` alternative phrasings for multi-query retrieval."""
        return self.transform(query, num_queries=num_queries)

    async def atransform_batch(self, requests: list[QueryRequest]) -> list[list[str]]:
        """Async :meth:`transform_batch`; runs it in a thread unless overridden."""
        result: list[list[str]] = await self._in_thread(self.transform_batch, requests)
        return result

    async def atransform(
        self, query: str, history: Sequence[MessageLike] = (), *, num_queries: int = 1
    ) -> list[str]:
        req = QueryRequest(query, to_messages(list(history)), num_queries)
        return self._checked(await self.atransform_batch([req]), [req])[0]

    def _checked(self, out: list[list[str]], requests: list[QueryRequest]) -> list[list[str]]:
        name = type(self).__qualname__
        check_count(self, "transform_batch", len(out), len(requests))
        cleaned = []
        for req, queries in zip(requests, out, strict=True):
            if isinstance(queries, str) or not all(isinstance(q, str) for q in queries):
                raise ContractError(f"{name}.transform_batch must return a list of str per request")
            kept = [q.strip() for q in queries if q.strip()][: req.num_queries]
            # A model that produced nothing usable still leaves the user's query to search with.
            cleaned.append(kept or [req.query])
        return cleaned


@runtime_checkable
class PromptedQueryTransformer(Protocol):
    """A query transformer that prompts a :class:`Generator`: what distillation needs.

    The query-transformer stage stores the teacher's raw generations (and log-probs) for
    :meth:`generation_request` and trains the student on them; :meth:`parse` turns a
    generation into the queries :meth:`QueryTransformer.transform_batch` would return.
    """

    generator: Generator

    def generation_request(self, req: QueryRequest) -> GenerationRequest: ...

    def parse(self, text: str, req: QueryRequest) -> list[str]: ...
