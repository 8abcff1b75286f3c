"""structured_predict: JSON validated against the schema, retried with the error, then a
clear error; no tool calling (issue #20, item 5)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core.prompts import PromptTemplate
from llama_index.core.types import PydanticProgramMode
from pydantic import BaseModel, ValidationError

from llama_index_ragdistill import RagdistillLLM, StructuredOutputError
from ragdistill.contracts import Generation, GenerationRequest, Generator

PROMPT = PromptTemplate("Who wrote {book}?")


class Author(BaseModel):
    name: str
    born: int


class ScriptedGenerator(Generator):
    """Replies with ``replies`` in turn (the last repeats) and records every request."""

    def __init__(self, *replies: str) -> None:
        self.replies = replies
        self.requests: list[GenerationRequest] = []

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        out = []
        for req in requests:
            self.requests.append(req)
            reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
            out.append(Generation(reply, "stop", {}))
        return out


GOOD = 'Sure! ```json\n{"name": "Mary Shelley", "born": 1797}\n```'
NOT_JSON = "Mary Shelley wrote it."
WRONG_TYPE = '{"name": "Mary Shelley", "born": "the late 1700s"}'


def test_valid_json_on_the_first_try() -> None:
    generator = ScriptedGenerator(GOOD)
    author = RagdistillLLM(generator).structured_predict(Author, PROMPT, book="Frankenstein")
    assert author == Author(name="Mary Shelley", born=1797)
    (request,) = generator.requests
    asked = request.messages[-1].content
    assert "Who wrote Frankenstein?" in asked and '"born"' in asked  # the schema is shown
    assert PROMPT.output_parser is None  # the caller's prompt is left as it was


def test_an_invalid_reply_is_retried_with_the_error() -> None:
    generator = ScriptedGenerator(WRONG_TYPE, GOOD)
    author = RagdistillLLM(generator).structured_predict(Author, PROMPT, book="Frankenstein")
    assert author.born == 1797
    first, retry = generator.requests
    assert [m.role for m in retry.messages[-2:]] == ["assistant", "user"]
    assert retry.messages[-2].content == WRONG_TYPE
    assert "born" in retry.messages[-1].content and "integer" in retry.messages[-1].content
    assert retry.messages[: len(first.messages)] == first.messages


def test_it_gives_up_with_a_clear_error() -> None:
    generator = ScriptedGenerator(NOT_JSON)
    llm = RagdistillLLM(generator, structured_retries=1)
    with pytest.raises(StructuredOutputError, match=r"no Author after 2 attempt\(s\)") as exc:
        llm.structured_predict(Author, PROMPT, book="Frankenstein")
    assert NOT_JSON in str(exc.value) and len(generator.requests) == 2
    assert not isinstance(exc.value, ValidationError) and isinstance(exc.value, ValueError)


def test_a_reply_that_never_validates_names_the_field() -> None:
    llm = RagdistillLLM(ScriptedGenerator(WRONG_TYPE), structured_retries=0)
    with pytest.raises(StructuredOutputError, match=r"after 1 attempt.*born"):
        llm.structured_predict(Author, PROMPT, book="Frankenstein")


def test_async_and_streaming_forms() -> None:
    llm = RagdistillLLM(ScriptedGenerator(NOT_JSON, GOOD))

    async def run() -> tuple[Author, list[Any]]:
        author = await llm.astructured_predict(Author, PROMPT, book="Frankenstein")
        stream = await llm.astream_structured_predict(Author, PROMPT, book="Frankenstein")
        return author, [item async for item in stream]

    author, streamed = asyncio.run(run())
    assert author.born == 1797 and streamed == [author]
    assert list(llm.stream_structured_predict(Author, PROMPT, book="Frankenstein")) == [author]


def test_as_structured_llm() -> None:
    from llama_index.core.base.llms.types import ChatMessage

    structured = RagdistillLLM(ScriptedGenerator(GOOD)).as_structured_llm(Author)
    response = structured.chat([ChatMessage(role="user", content="Who wrote Frankenstein?")])
    assert Author.model_validate_json(response.message.content or "").born == 1797


def test_no_tool_calling() -> None:
    llm = RagdistillLLM(ScriptedGenerator(GOOD))
    assert llm.metadata.is_function_calling_model is False
    llm.pydantic_program_mode = PydanticProgramMode.FUNCTION
    with pytest.raises(NotImplementedError, match="does not call tools or functions"):
        llm.structured_predict(Author, PROMPT, book="Frankenstein")


def test_a_tiny_model_fails_clearly(tiny_generator: Any) -> None:
    """Random weights write no JSON: the error is ours, not a raw ValidationError."""
    llm = RagdistillLLM(tiny_generator, structured_retries=1, max_new_tokens=4)
    with pytest.raises(StructuredOutputError, match="no Author after 2 attempt"):
        llm.structured_predict(Author, PROMPT, book="Frankenstein")
