"""A ragdistill generator as a LangChain chat model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from langchain_ragdistill._base import ComponentFields
from langchain_ragdistill._messages import to_ragdistill
from ragdistill.contracts import Generation, GenerationRequest, Stage, request

_CALL_KWARGS = ("max_tokens", "max_new_tokens", "temperature")


class ChatRagdistill(ComponentFields, BaseChatModel):
    """Chats with a ragdistill :class:`~ragdistill.contracts.Generator`, streaming included.

    The generator formats the messages with its own chat template::

        llm = ChatRagdistill.from_pretrained("runs/smol/student", max_tokens=128)
        llm.invoke([("system", "Be brief."), ("human", "What is RAG?")])

    ``max_tokens``, ``temperature`` and ``stop`` may also be given per call.
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
                f"{', '.join(_CALL_KWARGS)} and stop (tools and structured output are not supported)"
            )
        max_new = kwargs.get("max_tokens", kwargs.get("max_new_tokens", self.max_tokens))
        stops = stop if stop is not None else self.stop
        return request(
            to_ragdistill(messages),
            max_new_tokens=int(max_new),
            temperature=float(kwargs.get("temperature", self.temperature)),
            stop=tuple(stops or ()),
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
