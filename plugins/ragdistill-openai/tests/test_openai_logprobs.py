"""OpenAIChatGenerator's top-k token log-probs: the request, parsing, ids, cache, streaming."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fake_server import CHAT, FakeOpenAIServer, fake_token_id

from ragdistill.contracts import request
from ragdistill.errors import ConfigError
from ragdistill_openai import OpenAIChatGenerator
from ragdistill_openai.chat import parse_logprobs


def test_logprobs_are_requested_and_parsed(server: FakeOpenAIServer, connection) -> None:
    generator = OpenAIChatGenerator("m", token_ids_in_logprobs=False, **connection)
    gen = generator.generate("paris is big", max_new_tokens=9, top_logprobs=3)
    body = server.state.bodies[0][1]
    assert body["logprobs"] is True and body["top_logprobs"] == 3
    assert "return_tokens_as_token_ids" not in body
    assert gen.text == "echo: paris is big" and gen.logprobs is not None
    assert [t.token for t in gen.logprobs] == ["echo: ", "paris ", "is ", "big"]
    first = gen.logprobs[0]
    assert first.token_id is None and first.top_ids == ()
    assert first.top_tokens == ("echo: ", "alt1", "alt2")
    assert first.logprob == first.top_logprobs[0] < 0
    assert first.top_logprobs[1:] == pytest.approx([first.logprob - 0.5, first.logprob - 1.0])


def test_vllm_token_ids(server: FakeOpenAIServer, connection) -> None:
    generator = OpenAIChatGenerator("m", token_ids_in_logprobs=True, **connection)
    gen = generator.generate("hi", max_new_tokens=9, top_logprobs=2)
    assert server.state.bodies[0][1]["return_tokens_as_token_ids"] is True
    assert gen.logprobs is not None
    assert [t.token_id for t in gen.logprobs] == [fake_token_id("echo: "), fake_token_id("hi")]
    for entry in gen.logprobs:
        assert entry.token == "" and entry.top_tokens == ("", "")
        assert entry.top_ids == (entry.token_id, fake_token_id("alt1"))


def test_nothing_is_asked_without_top_logprobs(server: FakeOpenAIServer, connection) -> None:
    generator = OpenAIChatGenerator("m", token_ids_in_logprobs=True, **connection)
    assert generator.generate("hi").logprobs is None
    body = server.state.bodies[0][1]
    assert not {"logprobs", "top_logprobs", "return_tokens_as_token_ids"} & set(body)


def test_a_mixed_batch_gets_each_request_its_own(server: FakeOpenAIServer, connection) -> None:
    generator = OpenAIChatGenerator("m", **connection)
    gens = generator.generate_batch(
        [request("a b", top_logprobs=1), request("a b"), request("a b", top_logprobs=4)]
    )
    assert gens[1].logprobs is None
    assert gens[0].logprobs is not None and gens[2].logprobs is not None
    assert {len(t.top_tokens) for t in gens[0].logprobs} == {1}
    assert {len(t.top_tokens) for t in gens[2].logprobs} == {4}


def test_a_server_that_ignores_the_fields_gives_none(server: FakeOpenAIServer, connection) -> None:
    server.state.logprobs = False
    generator = OpenAIChatGenerator("m", token_ids_in_logprobs=True, **connection)
    gen = generator.generate("hi", max_new_tokens=5, top_logprobs=3)
    assert gen.text == "echo: hi" and gen.logprobs is None


def test_cache_key_includes_top_logprobs_and_logprobs_round_trip(
    server: FakeOpenAIServer, connection
) -> None:
    generator = OpenAIChatGenerator("m", **connection)
    first = generator.generate("cache me", top_logprobs=2)
    assert generator.generate("cache me").logprobs is None
    assert generator.generate("cache me", top_logprobs=3).logprobs is not None
    assert server.state.counts[CHAT] == 3  # three bodies, three keys
    generator.close()
    again = OpenAIChatGenerator("m", **connection).generate("cache me", top_logprobs=2)
    assert server.state.counts[CHAT] == 3  # read back from the cache file
    assert again == first and again.logprobs is not None


def test_token_ids_option_is_part_of_the_cache_key(server: FakeOpenAIServer, connection) -> None:
    OpenAIChatGenerator("m", **connection).generate("same", top_logprobs=2)
    ids = OpenAIChatGenerator("m", token_ids_in_logprobs=True, **connection)
    gen = ids.generate("same", top_logprobs=2)
    assert server.state.counts[CHAT] == 2
    assert gen.logprobs is not None and gen.logprobs[0].token_id == fake_token_id("echo: ")


def test_streaming_never_asks_for_logprobs(server: FakeOpenAIServer, connection) -> None:
    generator = OpenAIChatGenerator("m", cache=False, token_ids_in_logprobs=True, **connection)
    req = request("tell me a story", top_logprobs=3)
    pieces = list(generator.stream(req))
    assert "".join(pieces) == "echo: tell me a story" and len(pieces) > 1

    async def collect() -> list[str]:
        return [p async for p in generator.astream(req)]

    assert asyncio.run(collect()) == pieces
    for _, body in server.state.bodies:
        assert body["stream"] is True
        assert not {"logprobs", "top_logprobs", "return_tokens_as_token_ids"} & set(body)


def test_stream_of_a_cached_logprobs_answer_sends_nothing(
    server: FakeOpenAIServer, connection
) -> None:
    generator = OpenAIChatGenerator("m", **connection)
    req = request("cached please", top_logprobs=2)
    text = generator.generate_many([req])[0].text
    server.state.reset_counters()
    assert list(generator.stream(req)) == [text]
    assert server.state.total == 0


def test_async_parity(server: FakeOpenAIServer, connection) -> None:
    generator = OpenAIChatGenerator("m", cache=False, token_ids_in_logprobs=True, **connection)
    requests = [request(f"question {i}", top_logprobs=i) for i in range(4)]
    sync = generator.generate_many(requests)
    assert asyncio.run(generator.agenerate_batch(requests)) == sync
    assert sync[0].logprobs is None and sync[3].logprobs is not None


def test_extra_body_may_not_ask_for_logprobs(connection) -> None:
    with pytest.raises(ConfigError, match="extra_body may not set logprobs, top_logprobs"):
        OpenAIChatGenerator("m", extra_body={"top_logprobs": 5, "logprobs": True}, **connection)


def test_the_option_is_read_from_options(server: FakeOpenAIServer, connection) -> None:
    generator = OpenAIChatGenerator.from_options(
        {"model": "m", "token_ids_in_logprobs": True, **connection}
    )
    assert generator.token_ids_in_logprobs is True


def _choice(*entries: Any) -> dict[str, Any]:
    return {"message": {"content": "x"}, "logprobs": {"content": list(entries)}}


@pytest.mark.parametrize(
    "choice",
    [
        {"message": {"content": "x"}},
        {"message": {"content": "x"}, "logprobs": None},
        {"message": {"content": "x"}, "logprobs": {"content": None}},
        {"logprobs": {"top_logprobs": [{"a": -1.0}]}},  # the legacy completions shape
        _choice({"token": "a"}),  # no logprob
        _choice({"token": "a", "logprob": None}),
        _choice({"token": 5, "logprob": -1.0}),
        _choice({"token": "a", "logprob": -1.0, "top_logprobs": [{"token": "b"}]}),
        _choice({"token": "a", "logprob": -1.0, "top_logprobs": {"b": -2.0}}),
        _choice({"token": "a", "logprob": -1.0}, "b"),
    ],
)
def test_unknown_or_malformed_logprobs_are_none(choice: dict[str, Any]) -> None:
    assert parse_logprobs(choice) is None
    assert parse_logprobs(choice, ids=True) is None


def test_parse_logprobs_shapes() -> None:
    assert parse_logprobs(_choice()) == ()
    (plain,) = parse_logprobs(_choice({"token": "a", "logprob": -1, "top_logprobs": None})) or ()
    assert (plain.token, plain.logprob, plain.top_tokens) == ("a", -1.0, ())
    mixed = _choice(
        {
            "token": "token_id:7",
            "logprob": -0.1,
            "top_logprobs": [
                {"token": "token_id:7", "logprob": -0.1},
                {"token": "b", "logprob": -3.0},
            ],
        }
    )
    (with_ids,) = parse_logprobs(mixed, ids=True) or ()
    assert (with_ids.token, with_ids.token_id) == ("", 7)
    assert with_ids.top_tokens == ("", "b") and with_ids.top_ids == ()  # not all are ids
    (as_text,) = parse_logprobs(mixed) or ()  # ids not asked for: the strings are kept
    assert (as_text.token, as_text.token_id) == ("token_id:7", None)
