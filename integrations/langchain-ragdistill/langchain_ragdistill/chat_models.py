"""A ragdistill generator as a LangChain chat model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field

from langchain_ragdistill._messages import to_ragdistill
from langchain_ragdistill._structured import structured_output
from langchain_ragdistill.serialization import SerializableComponent
from ragdistill.contracts import Generation, GenerationRequest, Stage, request
from ragdistill.hf import encoding_lock

_CALL_KWARGS = ("max_tokens", "max_new_tokens", "temperature")
NO_TOOLS = (
    "ChatRagdistill does not support tool calling: a ragdistill generator returns text "
    "only, never tool calls. For JSON answers use with_structured_output(schema); for an "
    "agent that calls tools, use a chat model with tool calling and keep ragdistill for "
    "retrieval (RagdistillEmbeddings, RagdistillRerank) or wrap this model in a tool"
)


class ChatRagdistill(SerializableComponent, BaseChatModel):
    """Chats with a ragdistill :class:`~ragdistill.contracts.Generator`, streaming included.

    The generator formats the messages with its own chat template::

        llm = ChatRagdistill.from_artifact("runs/smol/student", max_tokens=128)
        llm = ChatRagdistill.from_teacher("hf-causal-lm", model="SmolLM2-135M-Instruct")
        llm.invoke([("system", "Be brief."), ("human", "What is RAG?")])

    The adapter's own fields (``from_teacher`` keywords that configure it, not the
    generator): ``max_tokens``, ``temperature``, ``stop``, ``streaming`` and LangChain's
    (``callbacks``, ``tags``, ``metadata``...). ``max_tokens``, ``temperature`` and
    ``stop`` may also be given per call. Token counts use the generator's own tokenizer;
    ``with_structured_output`` asks for JSON and validates it; tools are not supported.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), arbitrary_types_allowed=True)
    stage: ClassVar[Stage] = "generator"

    max_tokens: int = Field(default=256, gt=0)
    """Tokens generated at most."""
    temperature: float = Field(default=0.0, ge=0.0)
    """0 decodes greedily."""
    stop: list[str] | None = None
    """Strings that end the generation."""
    streaming: bool = False
    """Stream even from ``invoke`` (callbacks then see each token)."""

    @property
    def _llm_type(self) -> str:
        return "ragdistill"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "max_tokens": self.max_tokens, "temperature": self.temperature}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        # A per-call model= (bind/invoke) names the trace, as LangChain asks of providers.
        stops = stop if stop is not None else self.stop
        params = LangSmithParams(
            ls_provider="ragdistill",
            ls_model_name=kwargs.get("model") or self.model or "ragdistill",
            ls_model_type="chat",
            ls_temperature=kwargs.get("temperature", self.temperature),
            ls_max_tokens=kwargs.get("max_tokens", self.max_tokens),
        )
        if stops:
            params["ls_stop"] = list(stops)
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        req = self._request(messages, stop, kwargs)
        return self._result(self.component.generate_many([req])[0])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        req = self._request(messages, stop, kwargs)
        return self._result(await self.component.agenerate(req.messages, **_params(req)))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for piece in self.component.stream(self._request(messages, stop, kwargs)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        yield self._last_chunk()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        async for piece in self.component.astream(self._request(messages, stop, kwargs)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                await run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        yield self._last_chunk()

    def _metadata(self) -> dict[str, Any]:
        return {"model_provider": "ragdistill", "model_name": self.model or "ragdistill"}

    def _result(self, gen: Generation) -> ChatResult:
        message = AIMessage(
            content=gen.text,
            usage_metadata=_usage(gen),
            response_metadata={**self._metadata(), "finish_reason": gen.finish_reason},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _last_chunk(self) -> ChatGenerationChunk:
        # An empty closing chunk carries the metadata a stream's aggregate needs.
        # Generator.stream yields text only, so a stream reports no token usage.
        message = AIMessageChunk(
            content="", response_metadata=self._metadata(), chunk_position="last"
        )
        return ChatGenerationChunk(message=message)

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> GenerationRequest:
        unknown = sorted(set(kwargs) - set(_CALL_KWARGS))
        if unknown:
            raise TypeError(
                f"ChatRagdistill got unexpected keyword arguments {unknown}; it takes "
                f"{', '.join(_CALL_KWARGS)} and stop (tools are not supported; for JSON "
                "use with_structured_output)"
            )
        max_new = kwargs.get("max_tokens", kwargs.get("max_new_tokens", self.max_tokens))
        stops = stop if stop is not None else self.stop
        return request(
            to_ragdistill(messages),
            max_new_tokens=int(max_new),
            temperature=float(kwargs.get("temperature", self.temperature)),
            stop=tuple(stops or ()),
        )

    # -- token counts: the generator's own tokenizer ---------------------------------------

    def get_token_ids(self, text: str) -> list[int]:
        """``text``'s token ids in the generator's own tokenizer (no special tokens).

        ``custom_get_token_ids`` wins when set. A generator with no tokenizer of its own
        (a remote API) raises rather than guess with another model's.
        """
        if self.custom_get_token_ids is not None:
            return self.custom_get_token_ids(text)
        tokenizer = self._tokenizer()
        with encoding_lock(self.component):
            ids: list[int] = tokenizer.encode(text, add_special_tokens=False)
        return list(ids)

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """Tokens of the prompt the generator would read: the messages rendered with its
        chat template (and system prompt), special tokens included, as generation
        counts ``usage["prompt_tokens"]`` (before any truncation to the context)."""
        if tools:
            raise NotImplementedError(NO_TOOLS)
        render = getattr(self.component, "prompt", None)
        if self.custom_get_token_ids is not None or render is None:
            return super().get_num_tokens_from_messages(messages)
        tokenizer = self._tokenizer()
        text = render(self._request(messages, None, {}))
        # As the generator encodes: a chat template writes its own special tokens.
        special = not getattr(tokenizer, "chat_template", None)
        with encoding_lock(self.component):
            return len(tokenizer(text, add_special_tokens=special)["input_ids"])

    def _tokenizer(self) -> Any:
        component = self.component
        tokenizer = getattr(component, "tokenizer", None)
        if tokenizer is None and hasattr(type(component), "lm"):
            tokenizer = component.lm.tokenizer  # loads the model on first use
        if tokenizer is None:
            raise NotImplementedError(
                f"ChatRagdistill cannot count tokens for {type(component).__qualname__}: it "
                "exposes no tokenizer (a local hf-causal-lm generator does). Pass "
                "custom_get_token_ids=your_tokenizer_function to count with your own"
            )
        return tokenizer

    # -- tools and structured output ---------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Not supported: raises ``NotImplementedError`` saying what to use instead."""
        raise NotImplementedError(NO_TOOLS)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: str = "json_schema",
        strict: bool | None = None,
        max_retries: int = 2,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """A runnable that answers with ``schema`` filled in: a pydantic model instance for
        a pydantic class, a dict for a TypedDict or a JSON schema.

        There is no constrained decoding: the generator is asked (in the system message)
        for one JSON object matching the schema (``method="json_schema"``, the default)
        or for JSON only, your prompt describing the fields (``"json_mode"``). The reply's
        JSON (bare, fenced or the outermost ``{...}``) is validated against the schema (a
        dict schema fully when ``jsonschema`` is installed, else its required keys); when it
        does not fit, the error goes back to the generator, up to ``max_retries`` times,
        and then ``OutputParserException`` is raised. ``include_raw=True`` returns
        ``{"raw", "parsed", "parsing_error"}`` and never raises. Validation is always strict,
        so ``strict`` is accepted and ignored. Small generators often fail: measure it.
        """
        if kwargs:
            raise TypeError(f"with_structured_output got unexpected keyword arguments {sorted(kwargs)}")  # fmt: skip
        return structured_output(
            self, schema, method=method, include_raw=include_raw, max_retries=max_retries
        )


def _params(req: GenerationRequest) -> dict[str, Any]:
    return {"max_new_tokens": req.max_new_tokens, "temperature": req.temperature, "stop": req.stop}


def _usage(gen: Generation) -> UsageMetadata | None:
    # Generators report either OpenAI-style or LangChain-style token counts.
    usage = gen.usage
    inputs = usage.get("input_tokens", usage.get("prompt_tokens"))
    outputs = usage.get("output_tokens", usage.get("completion_tokens"))
    if inputs is None or outputs is None:
        return None
    return UsageMetadata(input_tokens=inputs, output_tokens=outputs, total_tokens=inputs + outputs)
