"""OpenAIQueryTransformer: prompts sent, replies parsed leniently."""

from __future__ import annotations

import asyncio

import pytest
from fake_server import FakeOpenAIServer

from ragdistill.errors import ConfigError
from ragdistill.query_parsing import clean_line, parse_queries, parse_rewrite
from ragdistill_openai import OpenAIQueryTransformer

HISTORY = [
    {"role": "user", "content": "Who wrote Dune?"},
    {"role": "assistant", "content": "Frank Herbert."},
]


def test_rewrite_sends_the_conversation_and_reads_the_query(
    server: FakeOpenAIServer, connection
) -> None:
    server.state.replies.append('Rewritten query: "When was Frank Herbert born?"')
    transformer = OpenAIQueryTransformer("m", **connection)
    assert transformer.rewrite("When was he born?", HISTORY) == "When was Frank Herbert born?"
    system, user = server.state.bodies[0][1]["messages"]
    assert "stand-alone" in system["content"]
    assert user["content"] == (
        "Conversation:\nuser: Who wrote Dune?\nassistant: Frank Herbert.\n\n"
        "Latest message: When was he born?"
    )


def test_expansion_returns_n_clean_queries(server: FakeOpenAIServer, connection) -> None:
    server.state.replies.append(
        'Here are 3 search queries:\n\n1. **dune novel author**\n2) "Frank Herbert biography"\n'
        "- who wrote dune\n- Dune novel author\n* Herbert Dune 1965"
    )
    transformer = OpenAIQueryTransformer("m", **connection)
    queries = transformer.expand("who wrote dune", num_queries=3)
    assert queries == ["dune novel author", "Frank Herbert biography", "who wrote dune"]
    system = server.state.bodies[0][1]["messages"][0]["content"]
    assert system.startswith("You write 3 different search queries")


def test_an_unusable_reply_falls_back_to_the_query(server: FakeOpenAIServer, connection) -> None:
    server.state.replies.append("Here are the queries:\n\n")
    transformer = OpenAIQueryTransformer("m", **connection)
    assert transformer.transform_batch([_req("original question", 3)]) == [["original question"]]


def test_async_parity(server: FakeOpenAIServer, connection) -> None:
    transformer = OpenAIQueryTransformer("m", **connection)
    sync = transformer.transform("plain query")
    assert asyncio.run(transformer.atransform("plain query")) == sync == ["echo: plain query"]
    assert server.state.total == 1  # the async call was answered by the cache


@pytest.mark.parametrize(
    ("line", "clean"),
    [
        ("1. first query", "first query"),
        ("  3) third", "third"),
        ("- dash", "dash"),
        ("• bullet", "bullet"),
        ("**bold query**", "bold query"),
        ('"quoted"', "quoted"),
        ("“curly”", "curly"),
        ("Query 2: labelled", "labelled"),
        ("Search query: labelled", "labelled"),
        ("Q1: short label", "short label"),
        ('1. **Query:** "layers"', "layers"),
        ("q-learning convergence", "q-learning convergence"),
        ("2024 olympics host city", "2024 olympics host city"),
        ("can't stop", "can't stop"),
    ],
)
def test_clean_line(line: str, clean: str) -> None:
    assert clean_line(line) == clean


def test_parsers_skip_preambles_thinking_and_duplicates() -> None:
    reply = "<think>the user wants\nqueries</think>\nSure, here they are:\nA\n2. a\nB\nC"
    assert parse_queries(reply, 2) == ["A", "B"]
    assert parse_rewrite("Standalone question:\n  When was Herbert born?  ") == [
        "When was Herbert born?"
    ]
    assert parse_rewrite("  \n") == []


def test_prompt_templates_are_checked(connection) -> None:
    with pytest.raises(ConfigError, match="num_queries"):
        OpenAIQueryTransformer("m", expand_prompt="give {n} queries", **connection)


def _req(query: str, n: int):
    from ragdistill.contracts import QueryRequest

    return QueryRequest(query, num_queries=n)
