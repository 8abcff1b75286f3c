"""The shared client: retries, auth errors, limits, and keeping the key private."""

from __future__ import annotations

import asyncio
import itertools
import socket
import sqlite3
import time

import pytest
from fake_server import CHAT, EMBEDDINGS, FakeOpenAIServer

from ragdistill.contracts import request
from ragdistill.errors import ConfigError, RagdistillError
from ragdistill_openai import APIError, AuthenticationError, OpenAIChatGenerator, OpenAIEmbedder
from ragdistill_openai.cache import ResponseCache, request_key
from ragdistill_openai.policy import ClientSettings, RateLimiter, retry_after


def test_retries_recover_from_429_with_retry_after(server: FakeOpenAIServer, connection) -> None:
    server.state.fail(2, status=429, retry_after="0.05")
    embedder = OpenAIEmbedder("m", **connection)
    start = time.monotonic()
    assert embedder.embed_many(["a"]).shape == (1, 8)
    assert server.state.counts[EMBEDDINGS] == 3
    assert time.monotonic() - start >= 0.1  # waited what Retry-After asked, twice


def test_retries_recover_from_500(server: FakeOpenAIServer, connection) -> None:
    server.state.fail(3, status=500, retry_after=None)
    generator = OpenAIChatGenerator("m", **connection)
    assert generator.complete("hi") == "echo: hi"
    assert server.state.counts[CHAT] == 4


def test_gives_up_after_max_retries_with_the_last_error(
    server: FakeOpenAIServer, connection
) -> None:
    server.state.fail(10, status=503, retry_after=None)
    embedder = OpenAIEmbedder("m", max_retries=2, **connection)
    with pytest.raises(APIError, match=r"failed 3 times.*503.*injected failure") as info:
        embedder.embed_many(["a"])
    assert info.value.status == 503
    assert server.state.counts[EMBEDDINGS] == 3


def test_connection_errors_are_retried_then_reported() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    embedder = OpenAIEmbedder(
        "m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, retry_backoff=0.01
    )
    with pytest.raises(APIError, match=r"failed 3 times.*ConnectError.*server is up"):
        embedder.embed_many(["a"])


def test_auth_failure_is_clear_and_not_retried(server: FakeOpenAIServer, connection) -> None:
    server.state.api_key = "sk-right"
    embedder = OpenAIEmbedder("m", **connection)
    with pytest.raises(AuthenticationError) as info:
        embedder.embed_many(["a"])
    message = str(info.value)
    assert server.url in message and "OPENAI_API_KEY" in message and "no API key" in message
    assert isinstance(info.value, RagdistillError) and info.value.status == 401
    assert server.state.total == 1


def test_wrong_key_error_names_the_variable_but_not_the_key(
    server: FakeOpenAIServer, connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.state.api_key = "sk-right"
    monkeypatch.setenv("MY_KEY", "sk-wrong-secret")
    embedder = OpenAIEmbedder("m", api_key_env="MY_KEY", **connection)
    with pytest.raises(AuthenticationError, match="MY_KEY") as info:
        embedder.embed_many(["a"])
    assert "sk-wrong-secret" not in str(info.value)
    monkeypatch.setenv("MY_KEY", "sk-right")
    assert OpenAIEmbedder("m", api_key_env="MY_KEY", **connection).embed_many(["a"]).shape == (1, 8)
    assert server.state.authorization[-1] == "Bearer sk-right"


def test_other_4xx_raise_the_server_message_without_retry(
    server: FakeOpenAIServer, connection
) -> None:
    with pytest.raises(APIError, match=r"404.*`missing-model` does not exist"):
        OpenAIChatGenerator("missing-model", **connection).complete("hi")
    assert server.state.total == 1


def test_no_authorization_header_without_a_key(server: FakeOpenAIServer, connection) -> None:
    OpenAIEmbedder("m", **connection).embed_many(["a"])
    assert server.state.authorization == [None]


@pytest.mark.parametrize("use_async", [False, True])
def test_concurrency_limit_is_respected(
    server: FakeOpenAIServer, connection, use_async: bool
) -> None:
    server.state.delay = 0.15
    generator = OpenAIChatGenerator("m", max_concurrency=2, **connection)
    requests = [request(f"question {i}") for i in range(6)]
    if use_async:
        out = asyncio.run(generator.agenerate_batch(requests))
    else:
        out = generator.generate_batch(requests)
    assert [g.text for g in out] == [f"echo: question {i}" for i in range(6)]
    assert server.state.max_in_flight == 2  # concurrent, but never more than allowed


@pytest.mark.parametrize("use_async", [False, True])
def test_requests_per_minute_spaces_request_starts(
    server: FakeOpenAIServer, connection, use_async: bool
) -> None:
    generator = OpenAIChatGenerator("m", max_concurrency=4, requests_per_minute=600, **connection)
    requests = [request(f"q{i}") for i in range(5)]
    if use_async:
        asyncio.run(generator.agenerate_batch(requests))
    else:
        generator.generate_batch(requests)
    starts = sorted(server.state.starts)
    gaps = sorted(b - a for a, b in itertools.pairwise(starts))
    # Sent 60/600 = 0.1 s apart; arrival times jitter on a busy machine, the span does not shrink.
    assert starts[-1] - starts[0] >= 0.36
    assert gaps[len(gaps) // 2] >= 0.05


def test_rate_limiter_books_consecutive_slots() -> None:
    limiter = RateLimiter(per_minute=60)
    waits = [limiter.reserve() for _ in range(3)]
    assert waits[0] == pytest.approx(0.0, abs=0.01)
    assert waits[1] == pytest.approx(1.0, abs=0.01) and waits[2] == pytest.approx(2.0, abs=0.01)
    assert RateLimiter(None).reserve() == 0.0


def test_retry_after_header_forms() -> None:
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert retry_after({"retry-after": "soon"}) is None and retry_after({}) is None


def test_one_client_serves_several_event_loops(server: FakeOpenAIServer, connection) -> None:
    generator = OpenAIChatGenerator("m", cache=False, **connection)
    assert asyncio.run(generator.agenerate("one")).text == "echo: one"
    assert asyncio.run(generator.agenerate("two")).text == "echo: two"


def test_the_key_stays_out_of_repr_options_and_describe(server: FakeOpenAIServer) -> None:
    embedder = OpenAIEmbedder.from_options(
        {"model": "m", "base_url": server.url, "api_key": "sk-x"}
    )
    assert "sk-x" not in repr(embedder) and "sk-x" not in repr(embedder.client.settings)
    assert "api_key" not in embedder.options
    assert "sk-x" not in str(embedder.describe())
    assert embedder.describe()["options"]["base_url"] == server.url


def test_settings_validate_on_construction() -> None:
    with pytest.raises(ConfigError, match="base_url must start with http"):
        ClientSettings(base_url="api.openai.com/v1")
    with pytest.raises(ConfigError, match=r"max_concurrency must be >= 1.*timeout must be > 0"):
        ClientSettings(max_concurrency=0, timeout=0)


def test_cache_is_sqlite_of_json(tmp_path) -> None:
    cache = ResponseCache(tmp_path)
    key = request_key("http://h/v1/", "/embeddings", {"b": 1, "a": [1.5]})
    assert key == request_key("http://h/v1", "embeddings", {"a": [1.5], "b": 1})  # canonical
    cache.put(key, {"data": [1.5, "x"]})
    assert cache.get(key) == {"data": [1.5, "x"]} and cache.get("other") is None
    with sqlite3.connect(cache.path) as conn:
        (text,) = conn.execute("SELECT value FROM responses").fetchone()
    assert text == '{"data":[1.5,"x"]}'
    assert len(cache) == 1
    cache.close()
