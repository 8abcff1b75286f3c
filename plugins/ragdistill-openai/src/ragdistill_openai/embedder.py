"""Embeddings from any OpenAI-compatible ``POST /embeddings`` (OpenAI, vLLM, TEI, Ollama...)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

from ragdistill.contracts import Embedder, FloatArray, InputType
from ragdistill.errors import ConfigError
from ragdistill_openai.base import OpenAIBacked, settings_from
from ragdistill_openai.errors import APIError
from ragdistill_openai.policy import DEFAULT_BASE_URL

ENDPOINT = "embeddings"


@dataclass
class _Plan:
    """One embed_batch call: which texts the cache answered and which requests remain."""

    keys: list[str]
    vectors: list[list[float] | None]
    chunks: list[list[int]]
    bodies: list[dict[str, Any]]


class OpenAIEmbedder(OpenAIBacked, Embedder):
    """A teacher embedder served over the OpenAI embeddings API.

    ``batch_size`` is the number of texts per request; :meth:`embed_many` hands
    ``batch_size * max_concurrency`` texts to each :meth:`embed_batch` call so that
    many requests are in flight at once. Each text's vector is cached on its own, so a
    re-run with different batching still costs no request. ``query_prefix`` and
    ``document_prefix`` serve asymmetric models (e.g. ``"query: "`` / ``"passage: "``
    for e5) hosted behind a compatible server.
    """

    def __init__(
        self,
        model: str,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        dimensions: int | None = None,
        batch_size: int = 64,
        max_concurrency: int = 4,
        requests_per_minute: float | None = None,
        max_retries: int = 6,
        retry_backoff: float = 0.5,
        timeout: float = 60.0,
        cache_dir: str | None = None,
        cache: bool = True,
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        if dimensions is not None and dimensions < 1:
            raise ConfigError(f"dimensions must be >= 1 (or unset), got {dimensions}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self._connect(model, settings_from(locals()))
        self.dimensions = dimensions
        self.request_size = batch_size
        self.batch_size = batch_size * max_concurrency
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        if dimensions is not None:
            self._dimension = dimensions  # no probe request needed for .dimension

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        plan = self._plan(texts, input_type)
        return self._finish(plan, self.client.post_many(ENDPOINT, plan.bodies, cache=False))

    async def aembed_batch(
        self, texts: list[str], *, input_type: InputType = "document"
    ) -> FloatArray:
        plan = self._plan(texts, input_type)
        return self._finish(plan, await self.client.apost_many(ENDPOINT, plan.bodies, cache=False))

    def _body(self, text: str | list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "input": text}
        if self.dimensions is not None:
            body["dimensions"] = self.dimensions
        return body

    def _plan(self, texts: list[str], input_type: InputType) -> _Plan:
        prefix = self.query_prefix if input_type == "query" else self.document_prefix
        inputs = [prefix + text for text in texts]
        # Keyed as if each text were sent alone, so hits survive a change of batching.
        keys = [self.client.key(ENDPOINT, self._body(text)) for text in inputs]
        hits = self.client.cached(keys)
        vectors = [_cached_vector(hits.get(key)) for key in keys]
        missing = [i for i, vector in enumerate(vectors) if vector is None]
        size = self.request_size
        chunks = [missing[start : start + size] for start in range(0, len(missing), size)]
        bodies = [self._body([inputs[i] for i in chunk]) for chunk in chunks]
        return _Plan(keys, vectors, chunks, bodies)

    def _finish(self, plan: _Plan, responses: list[dict[str, Any]]) -> FloatArray:
        cached = {len(v) for v in plan.vectors if v is not None}
        fresh: dict[str, Any] = {}
        for chunk, response in zip(plan.chunks, responses, strict=True):
            for i, vector in zip(chunk, self._vectors(response, len(chunk)), strict=True):
                plan.vectors[i] = vector
                fresh[plan.keys[i]] = {"embedding": vector}
        widths = {len(v["embedding"]) for v in fresh.values()}
        self._check_dimension(widths, cached)  # before the cache keeps a wrong-sized vector
        self.client.store(fresh)
        if not plan.vectors:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        return np.asarray(plan.vectors, dtype=np.float32)

    def _vectors(self, response: dict[str, Any], expected: int) -> list[list[float]]:
        where = f"{self.client.base_url}/{ENDPOINT} (model {self.model!r})"
        data = response.get("data")
        if not isinstance(data, list) or len(data) != expected:
            got = len(data) if isinstance(data, list) else "no"
            raise APIError(f"{where} returned {got} embeddings for {expected} inputs")
        # The API promises an ``index`` per item, not an order: put each where it belongs.
        if all(isinstance(item, dict) and isinstance(item.get("index"), int) for item in data):
            data = sorted(data, key=lambda item: item["index"])
            if [item["index"] for item in data] != list(range(expected)):
                raise APIError(f"{where} returned embedding indices that do not match the inputs")
        vectors = [
            _decode(item.get("embedding") if isinstance(item, dict) else None, where)
            for item in data
        ]
        widths = {len(v) for v in vectors}
        if len(widths) > 1:
            raise APIError(f"{where} returned vectors of different lengths {sorted(widths)}")
        if self.dimensions is not None and widths != {self.dimensions}:
            raise APIError(
                f"{where} returned {widths.pop()}-d vectors but dimensions={self.dimensions} was "
                f"asked for; the model or server may not support `dimensions`: unset it"
            )
        return vectors

    def _check_dimension(self, fresh: set[int], cached: set[int]) -> None:
        """Refuse vector lengths that differ from this model's earlier ones: those of
        earlier calls (or the ``dimensions`` option), else those the cache holds."""
        known = {self._dimension} if self._dimension is not None else set()
        sizes = sorted(known | cached | fresh)
        if len(sizes) <= 1:
            return
        expected = self._dimension or min(cached or fresh)
        got = "/".join(str(size) for size in sizes if size != expected)
        fix = "point base_url and model at the server and model that made the earlier ones"
        if cached and self.client.cache is not None:
            fix += f", or delete the response cache {self.client.cache.path} to re-embed all"
        raise APIError(
            f"{self.client.base_url}/{ENDPOINT} (model {self.model!r}) returned {got}-d "
            f"vectors, but its earlier ones are {expected}-d: the server now runs another "
            f"model (or another `dimensions`) under that name, and vectors of two sizes "
            f"cannot be mixed; {fix}"
        )


def _decode(embedding: Any, where: str) -> list[float]:
    if isinstance(embedding, str):  # encoding_format="base64", which some servers default to
        return [float(x) for x in np.frombuffer(base64.b64decode(embedding), dtype=np.float32)]
    if (
        isinstance(embedding, list)
        and embedding
        and all(isinstance(x, int | float) for x in embedding)
    ):
        return [float(x) for x in embedding]
    raise APIError(f"{where} returned an item without a numeric `embedding` list")


def _cached_vector(value: Any) -> list[float] | None:
    vector = value.get("embedding") if isinstance(value, dict) else None
    return vector if isinstance(vector, list) else None
