"""A ragdistill generator as a LlamaIndex LLM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

from llama_index_ragdistill._base import ArtifactLoading
from llama_index_ragdistill._messages import to_ragdistill
from ragdistill import adapters
from ragdistill.contracts import Generation, GenerationRequest, Generator, Message, request

_CALL_KWARGS = ("max_new_tokens", "max_tokens", "temperature", "stop")


class RagdistillLLM(ArtifactLoading, CustomLLM):
    """Generates with a ragdistill :class:`~ragdistill.contracts.Generator`.

    A chat model: LlamaIndex sends it messages, which the generator formats with its
    own chat template. Use it as ``Settings.llm`` or pass ``llm=`` to a query engine::

        llm = RagdistillLLM.from_artifact("runs/smol/student", max_new_tokens=128)

    ``complete``/``chat`` (and their ``stream_``/``a`` forms) take ``max_new_tokens``,
    ``temperature`` and ``stop`` per call.
    """

    model_name: str = Field(default="ragdistill", description="Where the generator came from.")
    max_new_tokens: int = Field(default=256, gt=0, description="Tokens generated at most.")
    temperature: float = Field(default=0.0, ge=0.0, description="0 decodes greedily.")
    stop: list[str] = Field(default_factory=list, description="Strings that end generation.")
    context_window: int = Field(default=2048, gt=0, description="Prompt plus output tokens.")
    _stage = "generator"
    _name_field = "model_name"
    _component: Generator = PrivateAttr()

    def __init__(self, component: Generator, **kwargs: Any) -> None:
        adapters.check(component, "generator")
        kwargs.setdefault("model_name", adapters.model_name(component))
        window = getattr(component, "context_window", None) or getattr(
            component, "max_context", None
        )
        if isinstance(window, int) and window > 0:
            kwargs.setdefault("context_window", window)
        super().__init__(**kwargs)
        self._component = component

    @classmethod
    def class_name(cls) -> str:
        return "RagdistillLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_new_tokens,
            is_chat_model=True,
            model_name=self.model_name,
        )

    # -- completion: the prompt is one user turn (after the system prompt, if any) --

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return _completion(self._generate(self._prompt(prompt, formatted), kwargs))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        req = self._request(self._prompt(prompt, formatted), kwargs)

        def gen() -> CompletionResponseGen:
            text = ""
            for piece in self._component.stream(req):
                text += piece
                yield CompletionResponse(text=text, delta=piece)

        return gen()

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        return _completion(await self._agenerate(self._prompt(prompt, formatted), kwargs))

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        req = self._request(self._prompt(prompt, formatted), kwargs)

        async def gen() -> CompletionResponseAsyncGen:
            text = ""
            async for piece in self._component.astream(req):
                text += piece
                yield CompletionResponse(text=text, delta=piece)

        return gen()

    # -- chat: messages go to the generator as they are, not flattened into a prompt --

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return _chat(self._generate(to_ragdistill(messages), kwargs))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        req = self._request(to_ragdistill(messages), kwargs)

        def gen() -> ChatResponseGen:
            text = ""
            for piece in self._component.stream(req):
                text += piece
                yield _chat_chunk(text, piece)

        return gen()

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return _chat(await self._agenerate(to_ragdistill(messages), kwargs))

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        req = self._request(to_ragdistill(messages), kwargs)

        async def gen() -> ChatResponseAsyncGen:
            text = ""
            async for piece in self._component.astream(req):
                text += piece
                yield _chat_chunk(text, piece)

        return gen()

    # -- helpers --

    def _prompt(self, prompt: str, formatted: bool) -> tuple[Message, ...]:
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
        system = (
            (Message("system", self.system_prompt),) if self.system_prompt and not formatted else ()
        )
        return (*system, Message("user", prompt))

    def _request(self, messages: tuple[Message, ...], kwargs: dict[str, Any]) -> GenerationRequest:
        return request(messages, **self._params(kwargs))

    def _params(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(kwargs) - set(_CALL_KWARGS))
        if unknown:
            raise TypeError(
                f"RagdistillLLM got unexpected keyword arguments {unknown}; "
                f"it takes {', '.join(_CALL_KWARGS)}"
            )
        stop = kwargs.get("stop", self.stop) or ()
        return {
            "max_new_tokens": int(
                kwargs.get("max_new_tokens", kwargs.get("max_tokens", self.max_new_tokens))
            ),
            "temperature": float(kwargs.get("temperature", self.temperature)),
            "stop": (stop,) if isinstance(stop, str) else tuple(stop),
        }

    def _generate(self, messages: tuple[Message, ...], kwargs: dict[str, Any]) -> Generation:
        return self._component.generate(messages, **self._params(kwargs))

    async def _agenerate(self, messages: tuple[Message, ...], kwargs: dict[str, Any]) -> Generation:
        return await self._component.agenerate(messages, **self._params(kwargs))


def _raw(gen: Generation) -> dict[str, Any]:
    return {"finish_reason": gen.finish_reason, "usage": dict(gen.usage)}


def _completion(gen: Generation) -> CompletionResponse:
    return CompletionResponse(text=gen.text, raw=_raw(gen))


def _chat(gen: Generation) -> ChatResponse:
    message = ChatMessage(role=MessageRole.ASSISTANT, content=gen.text)
    return ChatResponse(message=message, raw=_raw(gen))


def _chat_chunk(text: str, delta: str) -> ChatResponse:
    return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=delta)
