"""Structured output for a model that cannot call functions: prompt for JSON that matches a
pydantic schema, validate the reply, and on failure ask again with the error shown.

What LlamaIndex's ``LLMTextCompletionProgram`` does once (its ``PydanticOutputParser``
adds the schema to the prompt and parses the reply), repeated up to ``retries`` more
times. A greedy model repeats itself for the same input, so each retry continues the
conversation: its bad reply, then a user turn quoting the validation error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.output_parsers import PydanticOutputParser
from llama_index.core.prompts.base import BasePromptTemplate
from llama_index.core.types import PydanticProgramMode
from pydantic import BaseModel, ValidationError

from ragdistill.errors import RagdistillError

Model = TypeVar("Model", bound=BaseModel)

RETRY_PROMPT = (
    "That reply is not a JSON object matching the schema: {error}\n"
    "Reply again with only the corrected JSON object, no other text."
)
#: Modes that ask the LLM for a tool call: this model does not make them.
TOOL_MODES = (PydanticProgramMode.FUNCTION, PydanticProgramMode.OPENAI)


class StructuredOutputError(RagdistillError, ValueError):
    """The model's replies did not validate against the schema, retries included."""


def check_mode(owner: str, mode: PydanticProgramMode) -> None:
    if mode in TOOL_MODES:
        raise NotImplementedError(
            f"{owner} does not call tools or functions (metadata.is_function_calling_model "
            f"is False), so pydantic_program_mode={mode.value!r} cannot work; leave it at "
            "'default': structured_predict then prompts for JSON matching the schema, "
            "validates it with pydantic and retries"
        )


def first_messages(
    llm: Any, output_cls: type[BaseModel], prompt: BasePromptTemplate, **prompt_args: Any
) -> tuple[PydanticOutputParser[Any], list[ChatMessage]]:
    """The parser, and the prompt's messages with the schema instructions appended (the
    caller's prompt is copied, not changed)."""
    parser: PydanticOutputParser[Any] = PydanticOutputParser(output_cls=output_cls)
    prompt = prompt.model_copy(update={"output_parser": parser})
    messages = llm._extend_messages(prompt.format_messages(llm=llm, **prompt_args))
    return parser, list(messages)


def _retry(messages: Sequence[ChatMessage], reply: str, exc: Exception) -> list[ChatMessage]:
    error = _short(exc)
    return [
        *messages,
        ChatMessage(role=MessageRole.ASSISTANT, content=reply),
        ChatMessage(role=MessageRole.USER, content=RETRY_PROMPT.format(error=error)),
    ]


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        problems = [f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()]
        return "; ".join(problems[:5])
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _give_up(output_cls: type[BaseModel], attempts: int, reply: str, exc: Exception) -> Exception:
    shown = reply if len(reply) <= 300 else reply[:300] + "..."
    return StructuredOutputError(
        f"no {output_cls.__name__} after {attempts} attempt(s): the last reply was not JSON "
        f"matching its schema ({_short(exc)}); last reply: {shown!r}. A larger or "
        "instruction-tuned model, a simpler schema, more structured_retries or more "
        "max_new_tokens may help"
    )


def predict(
    chat: Callable[[list[ChatMessage]], ChatResponse],
    parser: PydanticOutputParser[Any],
    messages: list[ChatMessage],
    retries: int,
) -> Any:
    """Chat, parse, and retry with the error until a reply validates."""
    for attempt in range(retries + 1):
        reply = chat(messages).message.content or ""
        try:
            return parser.parse(reply)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            if attempt == retries:
                raise _give_up(parser.output_cls, retries + 1, reply, exc) from exc
            messages = _retry(messages, reply, exc)
    raise AssertionError("unreachable")


async def apredict(
    achat: Callable[[list[ChatMessage]], Awaitable[ChatResponse]],
    parser: PydanticOutputParser[Any],
    messages: list[ChatMessage],
    retries: int,
) -> Any:
    for attempt in range(retries + 1):
        reply = (await achat(messages)).message.content or ""
        try:
            return parser.parse(reply)
        except ValueError as exc:
            if attempt == retries:
                raise _give_up(parser.output_cls, retries + 1, reply, exc) from exc
            messages = _retry(messages, reply, exc)
    raise AssertionError("unreachable")
