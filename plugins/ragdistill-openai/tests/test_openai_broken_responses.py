"""Broken answers from the server (#19 item 18): a stream that ends without
``data: [DONE]`` or is cut mid-body, and embeddings whose dimension changes between
calls. Retried where nothing has reached the caller yet, else one clear error that
names the model."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from fake_server import CHAT, EMBEDDINGS, FakeOpenAIServer, fake_vector

from ragdistill.contracts import request
from ragdistill_openai import APIError, OpenAIChatGenerator, OpenAIEmbedder, StreamCutError

PROMPT = "tell me a long story"
ANSWER = f"echo: {PROMPT}"


def streamed(generator: OpenAIChatGenerator, use_async: bool, pieces: list[str]) -> str:
    """The streamed text; every piece the caller received is appended to ``pieces``."""
    if not use_async:
        for piece in generator.stream(request(PROMPT)):
            pieces.append(piece)
        return "".join(pieces)

    async def collect() -> str:
        async for piece in generator.astream(request(PROMPT)):
            pieces.append(piece)
        return "".join(pieces)

    return asyncio.run(collect())


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("how", ["cut", "end"])
def test_a_stream_broken_before_any_text_is_retried(
    server: FakeOpenAIServer, connection, how, use_async
) -> None:
    server.state.break_stream(how, after=0)  # only the role event arrives
    generator = OpenAIChatGenerator("m", cache=False, **connection)
    assert streamed(generator, use_async, []) == ANSWER
    assert server.state.counts[CHAT] == 2


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    "how, says",
    [
        ("cut", r"connection broke .*RemoteProtocolError"),
        ("end", r"ended the stream without data: \[DONE\]"),
    ],
)
def test_a_stream_broken_after_text_was_handed_on_is_a_clear_error(
    server: FakeOpenAIServer, connection, how, says, use_async
) -> None:
    server.state.break_stream(how, after=2)
    generator = OpenAIChatGenerator("gpt-test", cache=False, **connection)
    pieces: list[str] = []
    with pytest.raises(StreamCutError) as caught:
        streamed(generator, use_async, pieces)
    assert pieces == ["echo: ", "tell "]  # what arrived before the break, not more
    message = str(caught.value)
    assert "model 'gpt-test'" in message and f"{server.url}/chat/completions" in message
    assert "after 11 characters of text (2 pieces)" in message
    assert "incomplete" in message and caught.match(says)
    assert server.state.counts[CHAT] == 1  # not retried: the text would be repeated


def test_a_stream_missing_only_done_after_its_finish_reason_is_complete(
    server: FakeOpenAIServer, connection
) -> None:
    server.state.break_stream("end", after=None)  # every event, then no [DONE]
    generator = OpenAIChatGenerator("m", cache=False, **connection)
    assert "".join(generator.stream(request(PROMPT))) == ANSWER
    assert server.state.counts[CHAT] == 1


def test_a_stream_that_keeps_breaking_gives_up_naming_the_model(
    server: FakeOpenAIServer, connection
) -> None:
    server.state.break_stream("cut", after=0, times=10)
    generator = OpenAIChatGenerator("gpt-test", cache=False, max_retries=2, **connection)
    with pytest.raises(APIError, match=r"failed 3 times.*model 'gpt-test'.*connection broke"):
        list(generator.stream(request(PROMPT)))
    assert server.state.counts[CHAT] == 3


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_an_embedding_dimension_that_changes_between_calls(
    server: FakeOpenAIServer, connection, use_async
) -> None:
    embedder = OpenAIEmbedder("emb-test", **connection)
    embedder.embed_many(["a"])  # 8-d, cached
    server.state.dimension = 16  # the server now runs another model under that name

    def embed(texts: list[str]) -> np.ndarray:
        if use_async:
            return asyncio.run(embedder.aembed_many(texts))
        return embedder.embed_many(texts)

    with pytest.raises(APIError) as caught:
        embed(["a", "b"])  # "a" from the cache (8-d), "b" fresh (16-d)
    message = str(caught.value)
    assert "model 'emb-test'" in message and f"{server.url}/embeddings" in message
    assert "16-d" in message and "8-d" in message and "responses.sqlite3" in message
    with pytest.raises(APIError, match=r"returned 16-d vectors, but its earlier ones are 8-d"):
        embed(["c"])  # no cached vector in the batch: the first call's dimension is known

    server.state.dimension = 8  # back to the first model: the 16-d vectors were not cached
    server.state.reset_counters()
    vectors = embed(["a", "b"])
    np.testing.assert_array_equal(vectors[1], np.float32(fake_vector("b", 8)))
    assert server.state.counts[EMBEDDINGS] == 1


def test_a_fresh_embedder_meeting_cached_vectors_of_another_dimension(
    server: FakeOpenAIServer, connection
) -> None:
    OpenAIEmbedder("emb-test", **connection).embed_many(["a"])
    server.state.dimension = 16
    with pytest.raises(APIError, match=r"model 'emb-test'.*16-d.*8-d"):
        OpenAIEmbedder("emb-test", batch_size=1, **connection).embed_many(["a", "b"])
