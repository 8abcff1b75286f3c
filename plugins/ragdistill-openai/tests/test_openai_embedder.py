"""OpenAIEmbedder against the fake server: order, shape, cache, async, options."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from fake_server import EMBEDDINGS, FakeOpenAIServer, fake_vector

from ragdistill.errors import ConfigError
from ragdistill_openai import APIError, OpenAIEmbedder

TEXTS = [f"text number {i}" for i in range(10)]


def expected(texts: list[str], dimension: int = 8) -> np.ndarray:
    return np.asarray([fake_vector(t, dimension) for t in texts], dtype=np.float32)


def test_vectors_follow_the_response_index_not_its_order(
    server: FakeOpenAIServer, connection
) -> None:
    embedder = OpenAIEmbedder("m", batch_size=4, **connection)
    vectors = embedder.embed_many(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (10, 8)
    np.testing.assert_array_equal(vectors, expected(TEXTS))  # the server answers in reverse
    assert server.state.counts[EMBEDDINGS] == 3  # 4 + 4 + 2 texts per request
    assert embedder.dimension == 8


def test_a_second_run_issues_no_request(server: FakeOpenAIServer, connection) -> None:
    first = OpenAIEmbedder("m", **connection).embed_many(TEXTS)
    server.state.reset_counters()
    again = OpenAIEmbedder("m", batch_size=3, **connection).embed_many(TEXTS[::-1])
    assert server.state.total == 0  # cached per text, whatever the batching
    np.testing.assert_array_equal(again, first[::-1])


def test_only_uncached_texts_are_sent(server: FakeOpenAIServer, connection) -> None:
    embedder = OpenAIEmbedder("m", **connection)
    embedder.embed_many(TEXTS[:5])
    server.state.reset_counters()
    np.testing.assert_array_equal(embedder.embed_many(TEXTS), expected(TEXTS))
    assert [body["input"] for _, body in server.state.bodies] == [TEXTS[5:]]


def test_cache_off_and_cache_dir(server: FakeOpenAIServer, connection, tmp_path) -> None:
    OpenAIEmbedder("m", cache=False, **connection).embed_many(["a"])
    OpenAIEmbedder("m", cache=False, **connection).embed_many(["a"])
    assert server.state.total == 2
    embedder = OpenAIEmbedder("m", cache_dir=str(tmp_path / "mine"), **connection)
    embedder.embed_many(["a"])
    assert (tmp_path / "mine" / "responses.sqlite3").exists()


def test_a_different_model_or_server_is_a_different_cache_entry(
    server: FakeOpenAIServer, connection
) -> None:
    OpenAIEmbedder("m", **connection).embed_many(["a"])
    OpenAIEmbedder("other", **connection).embed_many(["a"])
    OpenAIEmbedder("m", dimensions=4, **connection).embed_many(["a"])
    assert server.state.total == 3


def test_async_matches_sync_and_runs_requests_concurrently(
    server: FakeOpenAIServer, connection
) -> None:
    server.state.delay = 0.1
    embedder = OpenAIEmbedder("m", batch_size=2, max_concurrency=5, cache=False, **connection)
    vectors = asyncio.run(embedder.aembed_many(TEXTS))
    np.testing.assert_array_equal(vectors, expected(TEXTS))
    assert server.state.counts[EMBEDDINGS] == 5 and server.state.max_in_flight == 5
    np.testing.assert_array_equal(embedder.embed_many(TEXTS), vectors)


def test_dimensions_are_requested_and_known_without_a_probe(
    server: FakeOpenAIServer, connection
) -> None:
    embedder = OpenAIEmbedder("m", dimensions=5, **connection)
    assert embedder.dimension == 5 and server.state.total == 0
    assert embedder.embed_many(["a"]).shape == (1, 5)
    assert server.state.bodies[0][1]["dimensions"] == 5


def test_a_server_that_ignores_dimensions_is_reported(server: FakeOpenAIServer, connection) -> None:
    class Ignoring(OpenAIEmbedder):
        def _body(self, text):  # send no `dimensions`, expect 5 back
            return {"model": self.model, "input": text}

    with pytest.raises(APIError, match="dimensions=5"):
        Ignoring("m", dimensions=5, **connection).embed_many(["a"])


def test_query_and_document_prefixes(server: FakeOpenAIServer, connection) -> None:
    embedder = OpenAIEmbedder(
        "m", query_prefix="query: ", document_prefix="passage: ", **connection
    )
    np.testing.assert_array_equal(embedder.embed_query("x"), expected(["query: x"])[0])
    np.testing.assert_array_equal(embedder.embed_documents(["x"]), expected(["passage: x"]))


def test_invalid_options_fail_on_construction(connection) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        OpenAIEmbedder("m", batch_size=0, **connection)
    with pytest.raises(ConfigError, match="model must be"):
        OpenAIEmbedder("", **connection)
