"""Token counts come from the generator's own tokenizer (issue #20, item 4)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import llama_index.core
import pytest
from llama_index.core import Settings
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler

from llama_index_ragdistill import RagdistillLLM

PROMPT = "What does knowledge distillation train?"
MESSAGES = [
    ChatMessage(role=MessageRole.SYSTEM, content="Be brief."),
    ChatMessage(role=MessageRole.USER, content=PROMPT),
]


@pytest.fixture(scope="module")
def llm(tiny_lm_path: Path) -> RagdistillLLM:
    return RagdistillLLM.from_teacher("hf-causal-lm", model=str(tiny_lm_path), max_new_tokens=6)


@pytest.fixture
def hf_tokenizer(llm: RagdistillLLM) -> Any:
    return llm.component.lm.tokenizer


@pytest.fixture
def global_tokenizer() -> Iterator[None]:
    saved = llama_index.core.global_tokenizer
    try:
        yield
    finally:
        llama_index.core.global_tokenizer = saved


def test_token_ids_are_the_generators(llm: RagdistillLLM, hf_tokenizer: Any) -> None:
    expected = hf_tokenizer.encode(PROMPT, add_special_tokens=False)
    assert llm.token_ids(PROMPT) == expected and llm.tokenizer(PROMPT) == expected
    assert llm.count_tokens(PROMPT) == len(expected)


def test_settings_tokenizer(llm: RagdistillLLM, hf_tokenizer: Any, global_tokenizer: None) -> None:
    Settings.tokenizer = llm.tokenizer
    assert Settings.tokenizer(PROMPT) == hf_tokenizer.encode(PROMPT, add_special_tokens=False)


def test_counting_messages_counts_the_rendered_prompt(llm: RagdistillLLM) -> None:
    usage = llm.chat(MESSAGES).raw["usage"]  # type: ignore[index]
    assert llm.count_tokens(MESSAGES) == usage["prompt_tokens"] > llm.count_tokens(PROMPT)


@pytest.mark.parametrize("call", ["complete", "stream_complete", "chat", "stream_chat"])
def test_token_counting_handler_agrees_with_the_tokenizer(
    llm: RagdistillLLM, hf_tokenizer: Any, call: str
) -> None:
    counter = TokenCountingHandler(tokenizer=llm.tokenizer)
    llm.callback_manager = CallbackManager([counter])
    try:
        if call.endswith("complete"):
            out = getattr(llm, call)(PROMPT)
            messages = [ChatMessage(role=MessageRole.USER, content=PROMPT)]
        else:
            out = getattr(llm, call)(MESSAGES)
            messages = MESSAGES
        chunks = list(out) if call.startswith("stream") else [out]
    finally:
        llm.callback_manager = CallbackManager([])
    text = chunks[-1].text if call.endswith("complete") else chunks[-1].message.content
    assert chunks[-1].raw["usage"]["prompt_tokens"] == llm.count_tokens(messages)
    assert counter.prompt_llm_token_count == llm.count_tokens(messages)
    completion = counter.completion_llm_token_count
    if call.startswith("stream"):  # counted from the text streamed
        assert completion == len(hf_tokenizer.encode(text, add_special_tokens=False)) > 0
        assert "".join(c.delta or "" for c in chunks) == text
    else:  # the generator's own count, which includes an end-of-sequence token
        assert completion == chunks[-1].raw["usage"]["completion_tokens"] > 0


def test_a_generator_without_a_tokenizer_says_so(echo_generator: Any) -> None:
    llm = RagdistillLLM(echo_generator)
    with pytest.raises(NotImplementedError, match="EchoGenerator has no tokenizer of its own"):
        _ = llm.tokenizer
    chunks = list(llm.stream_complete("one two"))
    assert all(c.raw is None for c in chunks)  # no invented counts
