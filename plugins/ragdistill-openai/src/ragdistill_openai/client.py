"""The HTTP transport the four components share: concurrency, rate, retries, cache, SSE.

* **Concurrency**: at most ``max_concurrency`` requests in flight per client, sync
  (a thread pool behind a semaphore) and async (an ``asyncio.Semaphore``).
* **Rate**: request starts are spaced ``60 / requests_per_minute`` seconds apart.
* **Retries**: see :mod:`ragdistill_openai.policy`.
* **Cache**: successful non-streamed responses are stored on disk (see
  :mod:`ragdistill_openai.cache`) as soon as each arrives, so an interrupted run
  resumes where it stopped.

The API key goes only into the ``Authorization`` header: it is kept out of reprs,
error messages and the cache.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ragdistill_openai import __version__
from ragdistill_openai.cache import ResponseCache, default_cache_dir, request_key
from ragdistill_openai.errors import APIError, StreamCutError
from ragdistill_openai.policy import (
    DEFAULT_BASE_URL,
    ClientSettings,
    RateLimiter,
    retry_delay,
    scrub,
)
from ragdistill_openai.sse import aiter_events, iter_events

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

__all__ = ["DEFAULT_BASE_URL", "ClientSettings", "OpenAIClient"]

JSON = dict[str, Any]


class OpenAIClient:
    """Sync and async POSTs to one OpenAI-compatible server."""

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        self.cache = (
            ResponseCache(settings.cache_dir or default_cache_dir()) if settings.cache else None
        )
        self._limiter = RateLimiter(settings.requests_per_minute)
        self._slots = threading.BoundedSemaphore(settings.max_concurrency)
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        # An AsyncClient and a Semaphore belong to one event loop; a new loop (each
        # asyncio.run) gets its own pair.
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._aslots: asyncio.Semaphore | None = None

    def __repr__(self) -> str:
        return f"OpenAIClient(base_url={self.base_url!r})"

    @property
    def api_key(self) -> str | None:
        return self.settings.resolved_key()

    # -- cache -------------------------------------------------------------------------
    def key(self, endpoint: str, body: Mapping[str, Any]) -> str:
        return request_key(self.base_url, endpoint, body)

    def cached(self, keys: Sequence[str]) -> dict[str, Any]:
        return self.cache.get_many(keys) if self.cache is not None and keys else {}

    def store(self, items: Mapping[str, Any]) -> None:
        if self.cache is not None:
            self.cache.put_many(items)

    # -- requests ----------------------------------------------------------------------
    def post_many(
        self, endpoint: str, bodies: Sequence[JSON], *, cache: bool | Sequence[bool] = True
    ) -> list[JSON]:
        """One response per body, in order; cached ones are not sent, the rest concurrently."""
        keys, results, todo = self._plan(endpoint, bodies, cache)

        def run(i: int) -> None:
            results[i] = response = self._send(endpoint, bodies[i])
            if (key := keys[i]) is not None:
                self.store({key: response})

        if len(todo) == 1:
            run(todo[0])
        elif todo:
            workers = min(self.settings.max_concurrency, len(todo))
            with ThreadPoolExecutor(workers, thread_name_prefix="ragdistill-openai") as pool:
                futures = [pool.submit(run, i) for i in todo]
                try:
                    for future in futures:
                        future.result()
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
        return results  # type: ignore[return-value]

    async def apost_many(
        self, endpoint: str, bodies: Sequence[JSON], *, cache: bool | Sequence[bool] = True
    ) -> list[JSON]:
        """Async :meth:`post_many`: the uncached requests run as concurrent tasks."""
        keys, results, todo = self._plan(endpoint, bodies, cache)

        async def run(i: int) -> None:
            results[i] = response = await self._asend(endpoint, bodies[i])
            if (key := keys[i]) is not None:
                self.store({key: response})

        tasks = [asyncio.ensure_future(run(i)) for i in todo]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        return results  # type: ignore[return-value]

    def post(self, endpoint: str, body: JSON, *, cache: bool = True) -> JSON:
        return self.post_many(endpoint, [body], cache=cache)[0]

    async def apost(self, endpoint: str, body: JSON, *, cache: bool = True) -> JSON:
        return (await self.apost_many(endpoint, [body], cache=cache))[0]

    def _plan(
        self, endpoint: str, bodies: Sequence[JSON], cache: bool | Sequence[bool]
    ) -> tuple[list[str | None], list[JSON | None], list[int]]:
        flags = [cache] * len(bodies) if isinstance(cache, bool) else list(cache)
        keys = [self.key(endpoint, b) if f else None for b, f in zip(bodies, flags, strict=True)]
        hits = self.cached([k for k in keys if k is not None])
        results: list[JSON | None] = [hits.get(k) if k is not None else None for k in keys]
        return keys, results, [i for i, r in enumerate(results) if r is None]

    def _send(self, endpoint: str, body: JSON) -> JSON:
        import httpx

        client = self._sync_client()
        for attempt in range(self.settings.max_retries + 1):
            with self._slots:
                time.sleep(self._limiter.reserve())
                try:
                    outcome: httpx.Response | Exception = client.post(endpoint, json=body)
                except httpx.TransportError as exc:
                    outcome = exc
            delay = self._retry_delay(endpoint, attempt, outcome)
            if delay is None:
                return self._json(endpoint, outcome)  # type: ignore[arg-type]
            time.sleep(delay)
        raise AssertionError("unreachable: the last attempt raises")

    async def _asend(self, endpoint: str, body: JSON) -> JSON:
        import httpx

        client, slots = self._async_state()
        for attempt in range(self.settings.max_retries + 1):
            async with slots:
                await asyncio.sleep(self._limiter.reserve())
                try:
                    outcome: httpx.Response | Exception = await client.post(endpoint, json=body)
                except httpx.TransportError as exc:
                    outcome = exc
            delay = self._retry_delay(endpoint, attempt, outcome)
            if delay is None:
                return self._json(endpoint, outcome)  # type: ignore[arg-type]
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt raises")

    # -- streaming (server-sent events); never cached ---------------------------------
    def stream(self, endpoint: str, body: JSON) -> Iterator[JSON]:
        """The JSON events of a ``stream: true`` request, until ``data: [DONE]``.

        Failures before the response starts are retried here. Once events flow, a body
        that breaks off or ends without ``data: [DONE]`` raises :class:`StreamCutError`:
        only the caller knows whether what it already passed on makes a retry safe.
        """
        import httpx

        client = self._sync_client()
        for attempt in range(self.settings.max_retries + 1):
            with self._slots:
                time.sleep(self._limiter.reserve())
                try:
                    request = client.build_request("POST", endpoint, json=body)
                    outcome: httpx.Response | Exception = client.send(request, stream=True)
                except httpx.TransportError as exc:
                    outcome = exc
                if isinstance(outcome, httpx.Response) and outcome.status_code >= 400:
                    outcome.read()
                    outcome.close()
                delay = self._retry_delay(endpoint, attempt, outcome)
                if delay is None:
                    assert isinstance(outcome, httpx.Response)
                    where = self._stream_where(endpoint, body)
                    try:
                        yield from iter_events(outcome.iter_lines(), where)
                    except httpx.TransportError as exc:
                        raise _cut(where, exc) from exc
                    finally:
                        outcome.close()
                    return
            time.sleep(delay)

    async def astream(self, endpoint: str, body: JSON) -> AsyncIterator[JSON]:
        """Async :meth:`stream`."""
        import httpx

        client, slots = self._async_state()
        for attempt in range(self.settings.max_retries + 1):
            async with slots:
                await asyncio.sleep(self._limiter.reserve())
                try:
                    request = client.build_request("POST", endpoint, json=body)
                    outcome: httpx.Response | Exception = await client.send(request, stream=True)
                except httpx.TransportError as exc:
                    outcome = exc
                if isinstance(outcome, httpx.Response) and outcome.status_code >= 400:
                    await outcome.aread()
                    await outcome.aclose()
                delay = self._retry_delay(endpoint, attempt, outcome)
                if delay is None:
                    assert isinstance(outcome, httpx.Response)
                    where = self._stream_where(endpoint, body)
                    try:
                        async for event in aiter_events(outcome.aiter_lines(), where):
                            yield event
                    except httpx.TransportError as exc:
                        raise _cut(where, exc) from exc
                    finally:
                        await outcome.aclose()
                    return
            await asyncio.sleep(delay)

    # -- plumbing ----------------------------------------------------------------------
    def _client_options(self) -> dict[str, Any]:
        import httpx

        headers = {"User-Agent": f"ragdistill-openai/{__version__}"}
        if (key := self.api_key) is not None:
            headers["Authorization"] = f"Bearer {key}"
        return {
            "base_url": self.base_url + "/",
            "headers": headers,
            "timeout": httpx.Timeout(self.settings.timeout),
            "verify": _ssl_context(),
        }

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                import httpx

                self._client = httpx.Client(**self._client_options())
            return self._client

    def _async_state(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._aloop is not loop or self._aclient is None or self._aslots is None:
            import httpx

            self._aclient = httpx.AsyncClient(**self._client_options())
            self._aslots = asyncio.Semaphore(self.settings.max_concurrency)
            self._aloop = loop
        return self._aclient, self._aslots

    def close(self) -> None:
        """Close the sync connection pool and the cache file (async ones: :meth:`aclose`)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
        if self.cache is not None:
            self.cache.close()

    async def aclose(self) -> None:
        if self._aclient is not None and self._aloop is asyncio.get_running_loop():
            await self._aclient.aclose()
        self._aclient = self._aslots = self._aloop = None

    def _url(self, endpoint: str) -> str:
        return f"{self.base_url}/{endpoint}"

    def _stream_where(self, endpoint: str, body: JSON) -> str:
        model = body.get("model")
        return self._url(endpoint) + (f" (model {model!r})" if isinstance(model, str) else "")

    def _json(self, endpoint: str, response: httpx.Response) -> JSON:
        try:
            payload = response.json()
        except ValueError:
            raise APIError(
                f"{self._url(endpoint)} returned {response.status_code} with a body that is "
                f"not JSON: {scrub(response.text[:200], self.settings)!r}. Is base_url the API root "
                f"(it usually ends in /v1)?",
                status=response.status_code,
            ) from None
        if not isinstance(payload, dict):
            raise APIError(f"{self._url(endpoint)} returned JSON that is not an object")
        return payload

    def _retry_delay(self, endpoint: str, attempt: int, outcome: Any) -> float | None:
        return retry_delay(
            outcome, attempt=attempt, url=self._url(endpoint), settings=self.settings
        )


def _cut(where: str, exc: Exception) -> StreamCutError:
    return StreamCutError(f"{where}: the connection broke mid-stream ({type(exc).__name__}: {exc})")


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~0.1 s; every client in the process can share one context.
    import httpx

    return httpx.create_ssl_context(verify=True, trust_env=True)
