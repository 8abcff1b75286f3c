"""Structured output from a text-only generator: ask for JSON, parse it, validate it
against the schema, and ask again (up to ``max_retries`` times) when it does not fit."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    convert_to_messages,
)
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.utils.function_calling import convert_to_json_schema
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import ValidationError
from typing_extensions import is_typeddict

#: ``method`` values: the schema in the prompt, or the prompt (yours) alone.
METHODS = ("json_schema", "json_mode")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class OutputSchema:
    """A schema as JSON (for the prompt and tracing) and the check that parses into it."""

    json_schema: dict[str, Any]
    validate: Callable[[Any], Any]
    title: str


def output_schema(schema: Any) -> OutputSchema:
    """A pydantic model class (parsed into an instance), a TypedDict class or a JSON
    schema dict (parsed into a dict)."""
    if isinstance(schema, type) and is_basemodel_subclass(schema):
        # pydantic v2, else a pydantic.v1 model
        check = getattr(schema, "model_validate", None) or getattr(schema, "parse_obj", None)
        assert check is not None
        return OutputSchema(convert_to_json_schema(schema), check, schema.__name__)
    if is_typeddict(schema):  # as LangChain reads it: Annotated[type, default, description]
        js = convert_to_json_schema(schema)
        return OutputSchema(js, _json_check(js), schema.__name__)
    if isinstance(schema, dict):
        try:
            js = convert_to_json_schema(schema)
        except ValueError:  # a bare JSON schema with no title
            js = dict(schema)
        return OutputSchema(js, _json_check(js), str(js.get("title", "the JSON schema")))
    raise TypeError(
        "with_structured_output takes a pydantic model class, a TypedDict class or a JSON "
        f"schema dict, got {schema!r}"
    )


def _json_check(js: dict[str, Any]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        try:
            jsonschema = importlib.import_module("jsonschema")  # optional; untyped
        except ImportError:  # without it: an object with the required keys
            if js.get("type", "object") == "object":
                if not isinstance(value, dict):
                    raise ValueError(f"expected a JSON object, got {type(value).__name__}") from None  # fmt: skip
                missing = [k for k in js.get("required", ()) if k not in value]
                if missing:
                    raise ValueError(f"required keys missing: {missing}") from None
            return value
        try:
            jsonschema.validate(value, js)
        except jsonschema.ValidationError as exc:
            raise ValueError(exc.message) from None
        return value

    return check


def parse_reply(text: str) -> Any:
    """The JSON in a reply: all of it, a fenced block, or its outermost ``{...}``."""
    fenced = _FENCE.search(text)
    candidates = [text.strip(), fenced.group(1).strip() if fenced else ""]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in filter(None, candidates):
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    raise ValueError("the reply holds no JSON object")


def structured_output(
    llm: BaseChatModel,
    schema: Any,
    *,
    method: str,
    include_raw: bool,
    max_retries: int,
) -> Runnable[LanguageModelInput, Any]:
    """``llm`` asked for JSON that fits ``schema``, parsed and validated, retried."""
    if method not in METHODS:
        raise ValueError(
            f"{type(llm).__name__}.with_structured_output(method={method!r}) is not "
            f"available: {', '.join(METHODS)} are (a ragdistill generator has no tool "
            "calling, so no 'function_calling'); the default, 'json_schema', puts the schema "
            "in the prompt and validates the reply against it"
        )
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    spec = output_schema(schema)
    model = llm.bind(ls_structured_output_format={"kwargs": {"method": method}, "schema": spec.json_schema})  # fmt: skip
    ask = "Reply with one JSON object and nothing else"
    ask += f", matching this JSON schema:\n{json.dumps(spec.json_schema)}" if method == "json_schema" else "."  # fmt: skip
    attempts = max_retries + 1

    def run(value: LanguageModelInput, config: RunnableConfig) -> Any:
        messages = _with_instruction(value, ask)
        for _ in range(attempts):
            raw = model.invoke(messages, config)
            parsed, error = _parse(raw, spec)
            if error is None:
                return _output(raw, parsed, None, include_raw)
            messages = [*messages, raw, _again(error)]
        return _fail(llm, raw, error, spec, attempts, include_raw)

    async def arun(value: LanguageModelInput, config: RunnableConfig) -> Any:
        messages = _with_instruction(value, ask)
        for _ in range(attempts):
            raw = await model.ainvoke(messages, config)
            parsed, error = _parse(raw, spec)
            if error is None:
                return _output(raw, parsed, None, include_raw)
            messages = [*messages, raw, _again(error)]
        return _fail(llm, raw, error, spec, attempts, include_raw)

    return RunnableLambda(run, afunc=arun, name=f"{type(llm).__name__}StructuredOutput")


def _with_instruction(value: LanguageModelInput, ask: str) -> list[BaseMessage]:
    if isinstance(value, PromptValue):
        messages = value.to_messages()
    elif isinstance(value, str):
        messages = [HumanMessage(value)]
    else:
        messages = convert_to_messages(value)
    if messages and isinstance(messages[0], SystemMessage):
        return [SystemMessage(f"{messages[0].text}\n\n{ask}"), *messages[1:]]
    return [SystemMessage(ask), *messages]


def _parse(raw: BaseMessage, spec: OutputSchema) -> tuple[Any, Exception | None]:
    try:
        return spec.validate(parse_reply(raw.text)), None
    except (ValueError, ValidationError) as exc:  # pydantic's ValidationError is one
        return None, exc


def _again(error: Exception) -> HumanMessage:
    return HumanMessage(
        f"That reply does not fit: {str(error)[:400]}. Reply again with only the JSON object."
    )


def _output(raw: BaseMessage, parsed: Any, error: Exception | None, include_raw: bool) -> Any:
    return {"raw": raw, "parsed": parsed, "parsing_error": error} if include_raw else parsed


def _fail(
    llm: BaseChatModel,
    raw: AIMessage,
    error: Exception | None,
    spec: OutputSchema,
    attempts: int,
    include_raw: bool,
) -> Any:
    failure = OutputParserException(
        f"{type(llm).__name__} did not answer with JSON that fits {spec.title} in {attempts} "
        f"attempt(s) (max_retries={attempts - 1}); last error: {str(error)[:400]}; last reply: "
        f"{raw.text[:200]!r}. A larger or instruction-tuned generator, a prompt that "
        "describes the fields, or more max_retries may help; include_raw=True returns the "
        "reply instead of raising",
        llm_output=raw.text,
    )
    if include_raw:
        return _output(raw, None, failure, True)
    raise failure
