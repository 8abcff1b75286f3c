"""One component called from several threads at once answers as it does called in turn.

The async methods (``asyncio.to_thread``), the LangChain and LlamaIndex shims and the
router's shadow arm call one component instance from several threads. A fast
tokenizer keeps its truncation and padding as settings of its shared Rust tokenizer:
each call sets them (``set_truncation_and_padding``), then encodes. A component whose
calls encode with different settings (a clipped query and a prompt, two token budgets,
ColBERT's query and document lengths, a token count) must not let a call from another
thread change them in between, or a call encodes with the other's settings: a prompt cut
to the wrong length, an unpadded batch (``Unable to create tensor``), a wrong count.

That window is a few bytecodes wide and a thread switch lands in it now and then; the
``settings_then_switch`` fixture yields the GIL right there, so a race shows on most
runs of a test rather than on some. Components whose calls all encode with the same
settings (the embedders, the cross-encoder, the seq2seq rewriter) have no such race.

Sampling with a ``seed`` draws from torch's process-wide generator: two seeded
generations in two threads interleave their draws unless they take turns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragdistill import hf
from ragdistill.contracts import QueryRequest, request

transformers = pytest.importorskip("transformers")

SENTENCE = "the sun and the water said to the people near the river of the world"


def text(n: int, start: int = 0) -> str:
    """``n`` words from ``start`` on, round ``SENTENCE`` (one token each in the tiny
    tokenizers)."""
    words = SENTENCE.split()
    return " ".join(words[(start + i) % len(words)] for i in range(n))


@pytest.fixture
def settings_then_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let other threads run between a tokenizer call's settings and its encode."""
    cls = transformers.PreTrainedTokenizerFast
    original = cls.set_truncation_and_padding

    def set_then_yield(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        time.sleep(0.001)

    monkeypatch.setattr(cls, "set_truncation_and_padding", set_then_yield)


def in_turn_and_at_once(
    call: Callable[[int], Any], jobs: int, *, fresh: Callable[[int], Any] | None = None
) -> tuple[list[Any], list[Any]]:
    """``call`` on each job one after another, then the same jobs from 8 threads at once
    (through ``fresh``, a new component's ``call``, when the first run leaves a cache)."""
    in_turn = [call(i) for i in range(jobs)]
    with ThreadPoolExecutor(8) as pool:
        at_once = list(pool.map(fresh or call, range(jobs)))
    return in_turn, at_once


def assert_same(in_turn: Sequence[Any], at_once: Sequence[Any]) -> None:
    wrong = [i for i, (a, b) in enumerate(zip(in_turn, at_once)) if a != b]
    assert not wrong, f"{len(wrong)} of {len(in_turn)} calls answered differently at once"


def assert_close(in_turn: Sequence[Any], at_once: Sequence[Any]) -> None:
    wrong = [i for i, (a, b) in enumerate(zip(in_turn, at_once)) if not np.allclose(a, b)]
    assert not wrong, f"{len(wrong)} of {len(in_turn)} calls scored differently at once"


# --- a causal LM's tokenizer, set differently per call -----------------------------------


def test_generations_with_different_budgets_at_once(
    tiny_causal_lm_path: Path, settings_then_switch: None
) -> None:
    # The prompt limit is the context less the budget: 46 or 28 tokens here.
    generator = hf.CausalLMGenerator(str(tiny_causal_lm_path), max_context=48)

    def call(i: int) -> list[tuple[str, Any]]:
        budget = 2 if i % 2 else 20
        reqs = [
            request(text(60, i), max_new_tokens=budget),
            request(text(8), max_new_tokens=budget),
        ]
        return [(g.text, g.usage) for g in generator.generate_batch(reqs)]

    assert_same(*in_turn_and_at_once(call, 24))


def test_query_instructions_while_the_lm_generates(
    tiny_causal_lm_path: Path, settings_then_switch: None
) -> None:
    # An instruction clips the query (to a quarter of the context) with the tokenizer
    # that generation encodes its prompts with.
    transformer = hf.LLMQueryTransformer(str(tiny_causal_lm_path), max_new_tokens=1)

    def call(i: int) -> Any:
        req = QueryRequest(text(200 + i, i))
        return transformer.transform_batch([req]) if i % 2 else transformer.generation_request(req)

    assert_same(*in_turn_and_at_once(call, 24))


def test_llm_judge_scores_at_once(tiny_causal_lm_path: Path, settings_then_switch: None) -> None:
    from ragdistill.stages.reranker.llm_judge import LLMJudgeReranker

    judge = LLMJudgeReranker(str(tiny_causal_lm_path), max_length=96)

    def call(i: int) -> Any:
        return judge.score_pairs([(text(10 + i, i), text(40 + 10 * j, j)) for j in range(3)])

    assert_close(*in_turn_and_at_once(call, 24))


# --- ColBERT: queries and documents encoded to different lengths ---------------------------


def test_colbert_scores_at_once(
    tiny_st_path: Path, tmp_path: Path, settings_then_switch: None
) -> None:
    from ragdistill.stages.reranker.colbert import ColBERTReranker
    from ragdistill.stages.reranker.students import ColBERTStudent

    folder = tmp_path / "colbert"
    ColBERTStudent(str(tiny_st_path), dim=16, max_doc_length=64).build().save_artifact(folder)

    def scorer() -> Callable[[int], Any]:
        reranker = ColBERTReranker(str(folder), batch_size=2, max_query_length=8)
        # Each call brings documents not stored yet: they are encoded beside the queries.
        return lambda i: reranker.score_pairs([(text(20, i), text(30, i + j)) for j in range(3)])

    assert_close(*in_turn_and_at_once(scorer(), 24, fresh=scorer()))


# --- the shims' token counts, beside generation ------------------------------------------


def test_langchain_token_counts_while_the_generator_generates(
    tiny_causal_lm_path: Path, settings_then_switch: None
) -> None:
    langchain_ragdistill = pytest.importorskip("langchain_ragdistill")
    generator = hf.CausalLMGenerator(str(tiny_causal_lm_path), max_context=48)
    chat = langchain_ragdistill.ChatRagdistill(component=generator, max_tokens=2)

    def call(i: int) -> Any:
        if i % 2:
            return chat.get_token_ids(text(80, i))  # no truncation: every token counted
        reqs = [request(text(60, i), max_new_tokens=2), request(text(8), max_new_tokens=2)]
        return [g.usage for g in generator.generate_batch(reqs)]

    assert_same(*in_turn_and_at_once(call, 24))


def test_llama_index_token_counts_while_the_generator_generates(
    tiny_causal_lm_path: Path, settings_then_switch: None
) -> None:
    llama_index_ragdistill = pytest.importorskip("llama_index_ragdistill")
    generator = hf.CausalLMGenerator(str(tiny_causal_lm_path), max_context=48)
    llm = llama_index_ragdistill.RagdistillLLM(component=generator)

    def call(i: int) -> Any:
        if i % 2:
            return llm.tokenizer(text(80, i))
        reqs = [request(text(60, i), max_new_tokens=2), request(text(8), max_new_tokens=2)]
        return [g.usage for g in generator.generate_batch(reqs)]

    assert_same(*in_turn_and_at_once(call, 24))


# --- seeded sampling: torch's process-wide generator --------------------------------------


def test_seeded_sampling_is_repeatable_at_once(tiny_causal_lm_path: Path) -> None:
    generator = hf.CausalLMGenerator(str(tiny_causal_lm_path), seed=0)

    def call(i: int) -> str:
        req = request(text(6, i), max_new_tokens=8, temperature=1.0)
        return generator.generate_batch([req])[0].text

    assert_same(*in_turn_and_at_once(call, 24))
