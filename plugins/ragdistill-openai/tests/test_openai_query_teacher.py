"""OpenAIQueryTransformer as a teacher the query-transformer stage distills.

It satisfies :class:`PromptedQueryTransformer`: its ``generator`` shares its client, and
``transform_batch`` is exactly ``parse`` of what ``generator`` returns for
``generation_request``. It takes the stage's ``task`` and ``num_queries``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fake_server import FakeOpenAIServer

from ragdistill.contracts import GenerationRequest, PromptedQueryTransformer, QueryRequest
from ragdistill.errors import ConfigError
from ragdistill.query_parsing import SEPARATOR
from ragdistill_openai import OpenAIChatGenerator, OpenAIQueryTransformer

KEY = "sk-query-teacher-secret"
HISTORY = [
    {"role": "user", "content": "Who wrote Dune?"},
    {"role": "assistant", "content": "Frank Herbert."},
]


def _req(query: str, n: int = 1, history: list[dict[str, str]] | None = None) -> QueryRequest:
    from ragdistill.contracts.messages import to_messages

    return QueryRequest(query, to_messages(history or []), n)


def _parse_of_generate(transformer: OpenAIQueryTransformer, req: QueryRequest) -> list[str]:
    generation = transformer.generator.generate_batch([transformer.generation_request(req)])[0]
    return transformer.parse(generation.text, req)


def test_it_is_a_prompted_query_transformer(connection) -> None:
    transformer = OpenAIQueryTransformer("m", **connection)
    assert isinstance(transformer, PromptedQueryTransformer)
    assert isinstance(transformer.generator, OpenAIChatGenerator)
    assert transformer.generator.model == "m"
    assert (transformer.task, transformer.num_queries) == ("auto", 3)


@pytest.mark.parametrize("task", ["auto", "rewrite", "expand", "hyde"])
def test_generation_request_is_what_messages_says(connection, task: str) -> None:
    transformer = OpenAIQueryTransformer(
        "m", task=task, num_queries=4, temperature=0.3, max_tokens=77, **connection
    )
    req = _req("When was he born?", 2, HISTORY)
    asked = transformer.generation_request(req)
    assert isinstance(asked, GenerationRequest)
    assert [m.to_dict() for m in asked.messages] == transformer.messages(req)
    assert (asked.max_new_tokens, asked.temperature) == (77, 0.3)
    assert (asked.stop, asked.top_logprobs) == ((), 0)


def test_task_picks_the_system_prompt_and_the_count(connection) -> None:
    def system(transformer: OpenAIQueryTransformer, n: int) -> str:
        return transformer.messages(_req("q", n))[0]["content"]

    auto = OpenAIQueryTransformer("m", **connection)
    assert system(auto, 1) == auto.rewrite_prompt
    assert system(auto, 5).startswith("You write 5 different search queries")
    assert f'separated by "{SEPARATOR}"' in system(auto, 5)
    expand = OpenAIQueryTransformer("m", task="expand", num_queries=4, **connection)
    # task = "expand" always asks for num_queries, as the distilled student was trained.
    assert system(expand, 1).startswith("You write 4 different search queries")
    hyde = OpenAIQueryTransformer("m", task="hyde", hyde_prompt="Write a passage.", **connection)
    assert system(hyde, 3) == "Write a passage."
    assert "passage only" in OpenAIQueryTransformer("m", task="hyde", **connection).hyde_prompt
    rewrite = OpenAIQueryTransformer("m", task="rewrite", **connection)
    assert system(rewrite, 3) == rewrite.rewrite_prompt
    assert [auto.task_of(_req("q", n)) for n in (1, 2)] == ["rewrite", "expand"]
    assert [hyde.task_of(_req("q", n)) for n in (1, 2)] == ["hyde", "hyde"]


@pytest.mark.parametrize(
    ("task", "n", "reply", "expected"),
    [
        ("rewrite", 1, 'Rewritten query: "When was Frank Herbert born?"',
         ["When was Frank Herbert born?"]),
        ("auto", 1, "When was Frank Herbert born?\nextra line", ["When was Frank Herbert born?"]),
        ("expand", 1, "a ||| b ||| c", ["a", "b", "c"]),
        ("expand", 1, "a ||| b ||| c ||| d", ["a", "b", "c"]),
        ("auto", 2, "1. a\n2. b\n3. c", ["a", "b"]),
        ("hyde", 1, "Passage: Frank Herbert was born\nin 1920 in Tacoma.",
         ["Frank Herbert was born in 1920 in Tacoma."]),
    ],
)  # fmt: skip
def test_transform_batch_is_parse_of_generate(
    server: FakeOpenAIServer, connection, task: str, n: int, reply: str, expected: list[str]
) -> None:
    transformer = OpenAIQueryTransformer("m", task=task, cache=False, **connection)
    req = _req("When was he born?", n, HISTORY)
    server.state.replies.extend([reply, reply])
    assert transformer.transform_batch([req]) == [expected]
    assert _parse_of_generate(transformer, req) == expected
    # The very same body went out both ways: the two paths cannot drift apart.
    (_, via_transform), (_, via_generator) = server.state.bodies
    assert via_transform == via_generator
    assert via_transform["messages"] == transformer.messages(req)
    assert (via_transform["max_tokens"], via_transform["temperature"]) == (256, 0.0)


def test_async_transform_goes_through_the_generator_too(
    server: FakeOpenAIServer, connection
) -> None:
    transformer = OpenAIQueryTransformer("m", task="expand", num_queries=2, **connection)
    server.state.replies.append("x ||| y ||| z")
    req = _req("q")
    assert asyncio.run(transformer.atransform_batch([req])) == [["x", "y"]]
    assert transformer.transform_batch([req]) == [["x", "y"]]  # a cache hit
    assert _parse_of_generate(transformer, req) == ["x", "y"]  # the same cache
    assert server.state.total == 1


def test_an_unusable_reply_still_falls_back_to_the_query(
    server: FakeOpenAIServer, connection
) -> None:
    transformer = OpenAIQueryTransformer("m", task="hyde", **connection)
    server.state.replies.append("   ")
    req = _req("original question")
    assert transformer.parse("   ", req) == []
    assert transformer.transform_batch([req]) == [["original question"]]


def test_the_generator_shares_the_client_and_its_cache(
    server: FakeOpenAIServer, connection, tmp_path: Path
) -> None:
    transformer = OpenAIQueryTransformer(
        "m", cache_dir=str(tmp_path / "cache"), max_concurrency=2, **connection
    )
    generator = transformer.generator
    assert generator.client is transformer.client
    assert generator.batch_size == max(OpenAIChatGenerator.batch_size, 2)
    req = _req("shared cache")
    assert transformer.transform(req.query) == ["echo: shared cache"]
    assert server.state.total == 1
    # Asked through the generator, the same request is answered from the same cache.
    assert generator.generate_batch([transformer.generation_request(req)])[0].text == (
        "echo: shared cache"
    )
    assert server.state.total == 1
    # The generator's own budget is the request's: the stage's label budget is not cut.
    assert generator.max_tokens is None


def test_sampled_requests_follow_cache_sampled(server: FakeOpenAIServer, connection) -> None:
    sampled = OpenAIQueryTransformer("m", temperature=0.7, **connection)
    sampled.transform("q")
    sampled.transform("q")
    assert server.state.total == 2
    keeper = OpenAIQueryTransformer("m", temperature=0.7, cache_sampled=True, **connection)
    assert keeper.generator.cache_sampled
    keeper.transform("k")
    keeper.transform("k")
    assert server.state.total == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"task": "summarize"}, "task must be one of auto, rewrite, expand, hyde"),
        ({"task": "EXPAND"}, "task must be one of"),
        ({"num_queries": 0}, "num_queries must be"),
        ({"extra_body": {"logprobs": True}}, "extra_body may not set logprobs"),
        ({"extra_body": {"messages": []}}, "extra_body may not set messages"),
    ],
)
def test_options_are_checked(connection, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OpenAIQueryTransformer("m", **options, **connection)  # type: ignore[arg-type]


def test_task_and_num_queries_are_checked_from_a_recipe_table(connection) -> None:
    with pytest.raises(ConfigError, match="task"):
        OpenAIQueryTransformer.from_options({"model": "m", "task": "summarize", **connection})
    with pytest.raises(ConfigError, match="num_queries"):
        OpenAIQueryTransformer.from_options({"model": "m", "num_queries": 0, **connection})


def test_the_key_stays_out_of_options_describe_and_repr(
    server: FakeOpenAIServer, connection
) -> None:
    server.state.api_key = KEY
    transformer = OpenAIQueryTransformer.from_options(
        {"model": "m", "api_key": KEY, "task": "expand", **connection}
    )
    generator = transformer.generator
    # The generator authenticates with the shared client's key...
    server.state.replies.append("a ||| b ||| c")
    assert _parse_of_generate(transformer, _req("q")) == ["a", "b", "c"]
    assert server.state.authorization == [f"Bearer {KEY}"]
    # ...which neither component records.
    for component in (transformer, generator):
        assert "api_key" not in component.options
        described = component.describe()
        assert "api_key" not in described["options"]
        assert KEY not in f"{described} {component.options} {component!r} {vars(component)}"
    assert transformer.describe()["options"]["task"] == "expand"
    assert generator.describe()["options"]["base_url"] == server.url
    assert generator.describe()["options"]["model"] == "m"


def test_sharing_builds_a_generator_on_an_existing_client(
    server: FakeOpenAIServer, connection
) -> None:
    owner = OpenAIChatGenerator("m", **connection)
    shared = OpenAIChatGenerator.sharing(owner.client, "other-model", max_tokens=5)
    assert shared.client is owner.client
    assert shared.model == "other-model"
    assert shared.generate("one two three four five six seven").finish_reason == "length"
    assert server.state.bodies[0][1]["model"] == "other-model"
    assert shared.describe()["options"]["max_tokens"] == 5
    with pytest.raises(ConfigError, match="model"):
        OpenAIChatGenerator.sharing(owner.client, " ")
    with pytest.raises(ConfigError, match="max_tokens"):
        OpenAIChatGenerator.sharing(owner.client, "m", max_tokens=0)


def test_the_query_transformer_stage_accepts_it_as_its_teacher(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    from ragdistill.recipes import parse_recipe
    from ragdistill.stages.query_transformer.options import QueryTransformerOptions
    from ragdistill.stages.query_transformer.setup import build_teacher

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "dune.txt").write_text("Dune is a 1965 novel by Frank Herbert.\n")
    recipe = parse_recipe(
        {
            "stage": "query_transformer",
            "name": "openai-query-teacher",
            "output": str(tmp_path / "out"),
            "teacher": {"kind": "openai", "model": "m", "base_url": server.url},
            # build_teacher loads no student: any model name will do.
            "student": {"kind": "causal-lm", "model": "tiny-student"},
            "data": {"dataset": "text-folder", "path": str(docs)},
            "losses": [{"name": "sequence-kd"}],
            "query_transformer": {"task": "expand", "num_queries": 3},
        }
    )
    teacher = build_teacher(recipe, QueryTransformerOptions(task="expand", num_queries=4))
    assert isinstance(teacher, OpenAIQueryTransformer)
    assert isinstance(teacher, PromptedQueryTransformer)
    assert (teacher.task, teacher.num_queries) == ("expand", 4)
    assert teacher.describe()["options"]["task"] == "expand"
    server.state.replies.append("a ||| b ||| c ||| d")
    req = QueryRequest("who wrote dune", num_queries=4)
    assert teacher.parse(
        teacher.generator.generate_batch([teacher.generation_request(req)])[0].text, req
    ) == ["a", "b", "c", "d"]
