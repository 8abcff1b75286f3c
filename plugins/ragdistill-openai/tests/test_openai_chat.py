"""OpenAIChatGenerator: request mapping, results, streaming, async, cache policy."""

from __future__ import annotations

import asyncio

import pytest
from fake_server import CHAT, FakeOpenAIServer

from ragdistill.contracts import request
from ragdistill.errors import ConfigError
from ragdistill_openai import OpenAIChatGenerator


def test_request_fields_are_mapped(server: FakeOpenAIServer, connection) -> None:
    generator = OpenAIChatGenerator("m", extra_body={"top_p": 0.5}, **connection)
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    generation = generator.generate(messages, max_new_tokens=7, stop=["###"])
    (_, body) = server.state.bodies[0]
    assert body == {
        "model": "m",
        "messages": messages,
        "max_tokens": 7,
        "temperature": 0.0,
        "stop": ["###"],
        "top_p": 0.5,
    }
    assert generation.text == "echo: hi" and generation.finish_reason == "stop"
    assert generation.usage == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_finish_reason_length_and_stop(server: FakeOpenAIServer, connection) -> None:
    generator = OpenAIChatGenerator("m", **connection)
    cut = generator.generate("one two three four", max_new_tokens=2)
    assert (cut.text, cut.finish_reason) == ("echo: one", "length")
    assert generator.complete("alpha. beta", stop=["."]) == "echo: alpha"


def test_max_tokens_cap_and_parameter_name(server: FakeOpenAIServer, connection) -> None:
    generator = OpenAIChatGenerator(
        "m", max_tokens=3, max_tokens_param="max_completion_tokens", **connection
    )
    generator.generate("hi", max_new_tokens=100)
    body = server.state.bodies[0][1]
    assert body["max_completion_tokens"] == 3 and "max_tokens" not in body


def test_streaming_yields_pieces_that_join_to_the_completion(
    server: FakeOpenAIServer, connection
) -> None:
    generator = OpenAIChatGenerator("m", cache=False, **connection)
    pieces = list(generator.stream(request("tell me a story")))
    assert len(pieces) > 1 and "".join(pieces) == "echo: tell me a story"
    assert server.state.bodies[0][1]["stream"] is True

    async def collect() -> list[str]:
        return [p async for p in generator.astream(request("tell me a story"))]

    assert asyncio.run(collect()) == pieces


def test_stream_of_a_cached_answer_sends_nothing(server: FakeOpenAIServer, connection) -> None:
    generator = OpenAIChatGenerator("m", **connection)
    text = generator.complete("cached please")
    server.state.reset_counters()
    assert list(generator.stream(request("cached please"))) == [text]
    assert server.state.total == 0


def test_stream_retries_before_the_first_byte(server: FakeOpenAIServer, connection) -> None:
    server.state.fail(1, status=429)
    generator = OpenAIChatGenerator("m", **connection)
    assert "".join(generator.stream(request("x y"))) == "echo: x y"
    assert server.state.counts[CHAT] == 2


def test_async_parity(server: FakeOpenAIServer, connection) -> None:
    generator = OpenAIChatGenerator("m", cache=False, **connection)
    requests = [request(f"question {i}", max_new_tokens=3) for i in range(5)]
    sync = generator.generate_many(requests)
    assert asyncio.run(generator.agenerate_batch(requests)) == sync
    assert asyncio.run(generator.agenerate("question 0", max_new_tokens=3)) == sync[0]


def test_greedy_is_cached_sampled_is_not_unless_asked(server: FakeOpenAIServer, connection) -> None:
    generator = OpenAIChatGenerator("m", **connection)
    for _ in range(2):
        generator.complete("greedy")
        generator.complete("sampled", temperature=0.7)
    assert server.state.counts[CHAT] == 3  # greedy once, sampled twice
    keeper = OpenAIChatGenerator("m", cache_sampled=True, **connection)
    keeper.complete("sampled", temperature=0.7)
    keeper.complete("sampled", temperature=0.7)
    assert server.state.counts[CHAT] == 4


def test_extra_body_may_not_override_request_fields(connection) -> None:
    with pytest.raises(ConfigError, match="extra_body may not set messages, model"):
        OpenAIChatGenerator("m", extra_body={"model": "x", "messages": []}, **connection)
