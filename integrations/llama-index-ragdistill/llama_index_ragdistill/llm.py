"""A ragdistill generator as a LlamaIndex LLM."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from typing import Any, TypeVar

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
from llama_index.core.bridge.pydantic import BaseModel, Field, PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.prompts import PromptTemplate

from llama_index_ragdistill import _structured
from llama_index_ragdistill._base import ArtifactLoading, SpecPickling
from llama_index_ragdistill._messages import to_ragdistill
from llama_index_ragdistill._spec import ComponentSlot, ComponentSpec
from ragdistill.contracts import Generation, GenerationRequest, Message, request
from ragdistill.contracts import Generator as RagdistillGenerator
from ragdistill.hf import encoding_lock

Model = TypeVar("Model", bound=BaseModel)

_CALL_KWARGS = ("max_new_tokens", "max_tokens", "temperature", "stop")


class RagdistillLLM(SpecPickling, ArtifactLoading, CustomLLM):
    """Generates with a ragdistill :class:`~ragdistill.contracts.Generator`.

    A chat model: LlamaIndex sends it messages, which the generator formats with its
    own chat template. Use it as ``Settings.llm`` or pass ``llm=`` to a query engine::

        llm = RagdistillLLM.from_artifact("runs/smol/student", max_new_tokens=128)
        llm = RagdistillLLM.from_teacher("hf-causal-lm", model="SmolLM2-135M-Instruct")

    ``complete``/``chat`` (and their ``stream_``/``a`` forms) take ``max_new_tokens``,
    ``temperature`` and ``stop`` per call. ``max_new_tokens`` and ``system_prompt`` are
    fields here; a generator's own (a cap on every request, a system turn for requests
    without one) go in ``from_teacher(..., load_options={"max_new_tokens": 64})``, and
    this object's default follows the cap.

    Tokens are counted with the generator's own tokenizer: ``usage`` in every response's
    ``raw`` (streams too, in a last chunk with an empty delta), read by LlamaIndex's
    ``TokenCountingHandler``; set ``Settings.tokenizer = llm.tokenizer`` for the rest
    (prompt packing, chat memory).

    It calls no tools (``metadata.is_function_calling_model`` is False):
    ``structured_predict`` asks for JSON that matches the schema, validates it and
    retries ``structured_retries`` times with the error shown, then raises
    :class:`~llama_index_ragdistill.StructuredOutputError`.
    """

    model_name: str = Field(default="ragdistill", description="Where the generator came from.")
    max_new_tokens: int = Field(default=256, gt=0, description="Tokens generated at most.")
    temperature: float = Field(default=0.0, ge=0.0, description="0 decodes greedily.")
    stop: list[str] = Field(default_factory=list, description="Strings that end generation.")
    context_window: int = Field(default=2048, gt=0, description="Prompt plus output tokens.")
    structured_retries: int = Field(
        default=2, ge=0, description="structured_predict's retries after an invalid reply."
    )
    component_spec: ComponentSpec | None = Field(
        default=None, description="How to rebuild the generator; None if built in code."
    )
    _stage = "generator"
    _name_field = "model_name"
    _slot: ComponentSlot = PrivateAttr()

    def __init__(self, component: RagdistillGenerator | None = None, **kwargs: Any) -> None:
        slot = self._make_slot(component, kwargs)
        kwargs.setdefault("model_name", slot.name)
        # The generator's window and output cap, when it has them, are this object's defaults.
        for field, names in (
            ("context_window", ("context_window", "max_context")),
            ("max_new_tokens", ("max_new_tokens",)),
        ):
            value = next((getattr(component, n) for n in names if getattr(component, n, None)), 0)
            if isinstance(value, int) and value > 0:
                kwargs.setdefault(field, value)
        super().__init__(**kwargs)
        self._slot = slot

    @classmethod
    def class_name(cls) -> str:
        return "RagdistillLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_new_tokens,
            is_chat_model=True,
            is_function_calling_model=False,
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
            for piece in self.component.stream(req):
                text += piece
                yield CompletionResponse(text=text, delta=piece)
            if usage := self._usage(req, text):
                yield CompletionResponse(text=text, delta="", raw={"usage": usage})

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
            async for piece in self.component.astream(req):
                text += piece
                yield CompletionResponse(text=text, delta=piece)
            if usage := self._usage(req, text):
                yield CompletionResponse(text=text, delta="", raw={"usage": usage})

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
            for piece in self.component.stream(req):
                text += piece
                yield _chat_chunk(text, piece)
            if usage := self._usage(req, text):
                yield _chat_chunk(text, "", usage)

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
            async for piece in self.component.astream(req):
                text += piece
                yield _chat_chunk(text, piece)
            if usage := self._usage(req, text):
                yield _chat_chunk(text, "", usage)

        return gen()

    # -- tokens: the generator's own tokenizer --

    @property
    def tokenizer(self) -> Callable[[str], list[int]]:
        """The generator's tokenizer as LlamaIndex takes one (``str -> token ids``)::

            Settings.tokenizer = llm.tokenizer
            TokenCountingHandler(tokenizer=llm.tokenizer)

        Raises ``NotImplementedError`` for a generator with no tokenizer of its own (an API
        model): LlamaIndex's default tokenizer then stays in use.
        """
        self._own_tokenizer(required=True)
        return self.token_ids

    def token_ids(self, text: str) -> list[int]:
        """``text``'s token ids, without special tokens (as ``Settings.tokenizer`` counts)."""
        tokenizer = self._own_tokenizer(required=True)
        with encoding_lock(self.component):
            ids = tokenizer.encode(text, add_special_tokens=False)
        return list(ids)

    def count_tokens(self, text: str | Sequence[ChatMessage]) -> int:
        """Tokens in ``text``; for chat messages, in the prompt the generator is sent
        (its chat template applied), as ``usage["prompt_tokens"]`` counts them."""
        if isinstance(text, str):
            return len(self.token_ids(text))
        return self._prompt_tokens(request(to_ragdistill(text)), required=True)

    def _own_tokenizer(self, *, required: bool) -> Any:
        component = self.component
        tokenizer = getattr(component, "tokenizer", None)
        if tokenizer is None and hasattr(component, "lm"):
            tokenizer = getattr(component.lm, "tokenizer", None)  # the HF generator's
        if not callable(getattr(tokenizer, "encode", None)):
            if required:
                raise NotImplementedError(
                    f"{type(component).__name__} has no tokenizer of its own (an API model); "
                    "LlamaIndex counts its tokens with its default tokenizer (tiktoken), or "
                    "set Settings.tokenizer to one that matches the model"
                )
            return None
        return tokenizer

    def _prompt_tokens(self, req: GenerationRequest, *, required: bool = False) -> int:
        tokenizer = self._own_tokenizer(required=required)
        if tokenizer is None:
            return 0
        render = getattr(self.component, "prompt", None)  # the HF generator renders its template
        text = render(req) if callable(render) else "\n".join(m.content for m in req.messages)
        # A rendered chat template holds its special tokens; a plain transcript gets them.
        special = not getattr(tokenizer, "chat_template", None)
        with encoding_lock(self.component):
            return len(tokenizer.encode(text, add_special_tokens=special))

    def _usage(self, req: GenerationRequest, text: str) -> dict[str, int] | None:
        """A stream's token counts, from the generator's tokenizer; None without one."""
        tokenizer = self._own_tokenizer(required=False)
        if tokenizer is None:
            return None
        with encoding_lock(self.component):
            completion = len(tokenizer.encode(text, add_special_tokens=False))
        return {"prompt_tokens": self._prompt_tokens(req), "completion_tokens": completion}

    # -- structured output: JSON validated against the schema, with retries --

    def structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Model:
        """``output_cls`` from the model's JSON reply, validated by pydantic; an invalid
        reply is retried ``structured_retries`` times with the error quoted to the model,
        then :class:`~llama_index_ragdistill.StructuredOutputError` is raised."""
        _structured.check_mode(type(self).__name__, self.pydantic_program_mode)
        parser, messages = _structured.first_messages(self, output_cls, prompt, **prompt_args)
        kwargs = llm_kwargs or {}
        result: Model = _structured.predict(
            lambda m: self.chat(m, **kwargs), parser, messages, self.structured_retries
        )
        return result

    async def astructured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Model:
        _structured.check_mode(type(self).__name__, self.pydantic_program_mode)
        parser, messages = _structured.first_messages(self, output_cls, prompt, **prompt_args)
        kwargs = llm_kwargs or {}
        result: Model = await _structured.apredict(
            lambda m: self.achat(m, **kwargs), parser, messages, self.structured_retries
        )
        return result

    def stream_structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Generator[Model, None, None]:
        """One item, the validated object: partial JSON is not validated, so not streamed."""
        yield self.structured_predict(output_cls, prompt, llm_kwargs, **prompt_args)

    async def astream_structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> AsyncGenerator[Model, None]:
        result = await self.astructured_predict(output_cls, prompt, llm_kwargs, **prompt_args)

        async def gen() -> AsyncGenerator[Model, None]:
            yield result

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
        gen: Generation = self.component.generate(messages, **self._params(kwargs))
        return gen

    async def _agenerate(self, messages: tuple[Message, ...], kwargs: dict[str, Any]) -> Generation:
        gen: Generation = await self.component.agenerate(messages, **self._params(kwargs))
        return gen


def _raw(gen: Generation) -> dict[str, Any]:
    return {"finish_reason": gen.finish_reason, "usage": dict(gen.usage)}


def _completion(gen: Generation) -> CompletionResponse:
    return CompletionResponse(text=gen.text, raw=_raw(gen))


def _chat(gen: Generation) -> ChatResponse:
    message = ChatMessage(role=MessageRole.ASSISTANT, content=gen.text)
    return ChatResponse(message=message, raw=_raw(gen))


def _chat_chunk(text: str, delta: str, usage: dict[str, int] | None = None) -> ChatResponse:
    message = ChatMessage(role=MessageRole.ASSISTANT, content=text)
    return ChatResponse(message=message, delta=delta, raw={"usage": usage} if usage else None)
