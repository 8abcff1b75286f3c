"""ChatRagdistill's token counts (its own tokenizer), tool calling (refused, saying what to
use) and structured output (JSON asked for, validated, retried)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel
from typing_extensions import TypedDict

from langchain_ragdistill import ChatRagdistill


class Joke(BaseModel):
    setup: str
    punchline: str
    rating: int | None = None


class JokeDict(TypedDict):
    setup: str
    punchline: str


JOKE_SCHEMA = {
    "title": "Joke",
    "type": "object",
    "properties": {"setup": {"type": "string"}, "punchline": {"type": "string"}},
    "required": ["setup", "punchline"],
}
MESSAGES = [SystemMessage("Be brief."), HumanMessage("What is the capital of France?")]


# -- token counts -------------------------------------------------------------------------


def test_token_counts_use_the_generators_tokenizer(tiny_generator: Any) -> None:
    chat = ChatRagdistill(component=tiny_generator, max_tokens=2)
    tokenizer = tiny_generator.lm.tokenizer
    text = "What is the capital of France?"
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert chat.get_token_ids(text) == ids and len(ids) > 3
    assert chat.get_num_tokens(text) == len(ids)


def test_message_counts_are_the_prompt_the_generator_reads(tiny_generator: Any) -> None:
    chat = ChatRagdistill(component=tiny_generator, max_tokens=2)
    counted = chat.get_num_tokens_from_messages(MESSAGES)
    assert counted > chat.get_num_tokens("Be brief. What is the capital of France?")
    reply = chat.invoke(MESSAGES)
    assert reply.usage_metadata is not None
    assert counted == reply.usage_metadata["input_tokens"]  # the generator's own count


def test_a_custom_token_counter_wins(tiny_generator: Any) -> None:
    chat = ChatRagdistill(component=tiny_generator, custom_get_token_ids=lambda t: [1] * len(t))
    assert chat.get_num_tokens("abc") == 3


def test_no_tokenizer_is_an_error_not_zero(echo_generator: Any) -> None:
    chat = ChatRagdistill(component=echo_generator)
    with pytest.raises(NotImplementedError, match="EchoGenerator: it exposes no tokenizer"):
        chat.get_num_tokens("hello")


# -- tools --------------------------------------------------------------------------------


def test_tool_calling_is_refused_with_what_to_use(echo_generator: Any) -> None:
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    chat = ChatRagdistill(component=echo_generator)
    with pytest.raises(NotImplementedError, match=r"does not support tool calling.*with_structured_output"):  # fmt: skip
        chat.bind_tools([add])
    with pytest.raises(NotImplementedError, match="tool calling"):
        chat.get_num_tokens_from_messages(MESSAGES, tools=[add])


# -- structured output ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (Joke, Joke(setup="cat", punchline="cat", rating=1)),
        (JokeDict, {"setup": "cat", "punchline": "cat"}),
        (JOKE_SCHEMA, {"setup": "cat", "punchline": "cat"}),
    ],
    ids=["pydantic", "typeddict", "json-schema"],
)
def test_structured_output_parses_into_the_schema(
    json_generator: Any, schema: Any, expected: Any
) -> None:
    chat = ChatRagdistill(component=json_generator)
    assert chat.with_structured_output(schema).invoke("Tell me a joke about cats.") == expected
    assert json_generator.schema_requests == 1


def test_the_schema_is_asked_for_in_the_system_message(json_generator: Any) -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "You are funny."), ("human", "{q}")])
    chain = prompt | ChatRagdistill(component=json_generator).with_structured_output(Joke)
    assert chain.invoke({"q": "A cat joke"}).setup == "cat"


@pytest.mark.parametrize("bad", [1, 2])
def test_a_reply_that_does_not_fit_is_retried(json_generator: Any, bad: int) -> None:
    json_generator.bad = bad  # replies that do not fit come first
    chat = ChatRagdistill(component=json_generator)
    assert chat.with_structured_output(Joke, max_retries=2).invoke("A cat joke").punchline == "cat"
    assert json_generator.schema_requests == bad + 1


def test_after_the_retries_the_error_says_what_failed(json_generator: Any) -> None:
    json_generator.bad = 5
    chat = ChatRagdistill(component=json_generator)
    with pytest.raises(OutputParserException, match=r"did not answer with JSON that fits Joke in 2 attempt"):  # fmt: skip
        chat.with_structured_output(Joke, max_retries=1).invoke("A cat joke")
    raw = chat.with_structured_output(Joke, max_retries=0, include_raw=True).invoke("A cat joke")
    assert isinstance(raw["raw"], AIMessage) and raw["parsed"] is None
    assert isinstance(raw["parsing_error"], OutputParserException)


def test_include_raw_keeps_the_reply(json_generator: Any) -> None:
    out = ChatRagdistill(component=json_generator).with_structured_output(Joke, include_raw=True)
    result = out.invoke("A cat joke")
    assert result["parsed"] == Joke(setup="cat", punchline="cat", rating=1)
    assert result["parsing_error"] is None
    assert "```json" in result["raw"].content


async def test_structured_output_async_and_stream(json_generator: Any) -> None:
    structured = ChatRagdistill(component=json_generator).with_structured_output(JOKE_SCHEMA)
    assert (await structured.ainvoke("A cat joke"))["setup"] == "cat"
    assert [chunk async for chunk in structured.astream("A cat joke")][-1]["punchline"] == "cat"


def test_unsupported_methods_are_refused_clearly(json_generator: Any) -> None:
    chat = ChatRagdistill(component=json_generator)
    with pytest.raises(ValueError, match="no 'function_calling'"):
        chat.with_structured_output(Joke, method="function_calling")
    with pytest.raises(TypeError, match="pydantic model class, a TypedDict class or a JSON"):
        chat.with_structured_output(42)  # type: ignore[arg-type]


def test_json_mode_leaves_the_fields_to_the_prompt(echo_generator: Any) -> None:
    # The echo generator repeats the last user turn: here, a JSON object.
    chat = ChatRagdistill(component=echo_generator, max_tokens=50)
    structured = chat.with_structured_output(JOKE_SCHEMA, method="json_mode")
    assert structured.invoke('{"setup": "a", "punchline": "b"}') == {"setup": "a", "punchline": "b"}
