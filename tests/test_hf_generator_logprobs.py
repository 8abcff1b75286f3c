"""CausalLMGenerator's top-k token log-probabilities, checked against teacher forcing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from ragdistill import hf
from ragdistill.contracts import Generation, GenerationRequest, request
from ragdistill.hf._logprobs import kept_tokens

ATOL = 1e-4


@pytest.fixture(scope="module")
def generator(tiny_causal_lm_path: Path) -> hf.CausalLMGenerator:
    return hf.CausalLMGenerator(str(tiny_causal_lm_path), max_context=256)


def ids_of(gen: Generation) -> list[int]:
    assert gen.logprobs is not None
    return [t.token_id for t in gen.logprobs if t.token_id is not None]


def forced(generator: hf.CausalLMGenerator, req: GenerationRequest, ids: list[int]) -> Any:
    """Teacher forcing: log_softmax of the logits that predict each of ``ids`` after the prompt."""
    lm = generator.lm
    prompt = lm.tokenizer(generator.prompt(req), add_special_tokens=False)["input_ids"]
    full = torch.tensor([prompt + ids])
    with torch.inference_mode():
        logits = lm.model(full).logits[0, len(prompt) - 1 : -1]
    return torch.log_softmax(logits.float(), dim=-1)


def assert_close(a: Generation, b: Generation) -> None:
    assert a.text == b.text and a.logprobs is not None and b.logprobs is not None
    assert len(a.logprobs) == len(b.logprobs)
    for x, y in zip(a.logprobs, b.logprobs, strict=True):
        assert (x.token, x.token_id, x.top_ids, x.top_tokens) == (
            y.token,
            y.token_id,
            y.top_ids,
            y.top_tokens,
        )
        assert x.logprob == pytest.approx(y.logprob, abs=ATOL)
        assert x.top_logprobs == pytest.approx(y.top_logprobs, abs=ATOL)


def test_one_entry_per_completion_token(generator: hf.CausalLMGenerator) -> None:
    gen = generator.generate("hello world", max_new_tokens=6, top_logprobs=3)
    assert gen.logprobs is not None
    assert gen.finish_reason == "length"  # random weights: no eos within six tokens
    assert len(gen.logprobs) == gen.usage["completion_tokens"] == 6
    tokenizer = generator.lm.tokenizer
    assert tokenizer.decode(ids_of(gen), skip_special_tokens=True) == gen.text
    for entry in gen.logprobs:
        assert entry.token == tokenizer.convert_ids_to_tokens(entry.token_id)
        assert list(entry.top_tokens) == tokenizer.convert_ids_to_tokens(list(entry.top_ids))


def test_greedy_chooses_the_top_token_and_k_is_respected(
    generator: hf.CausalLMGenerator,
) -> None:
    for k in (1, 5):
        gen = generator.generate("the capital of france", max_new_tokens=4, top_logprobs=k)
        assert gen.logprobs is not None
        for entry in gen.logprobs:
            assert len(entry.top_ids) == len(entry.top_tokens) == len(entry.top_logprobs) == k
            assert entry.token_id == entry.top_ids[0]
            assert entry.logprob == entry.top_logprobs[0]
            assert list(entry.top_logprobs) == sorted(entry.top_logprobs, reverse=True)
            assert all(lp <= 0 for lp in entry.top_logprobs)


@pytest.mark.parametrize("temperature", [0.0, 1.7])
def test_logprobs_match_teacher_forcing(
    generator: hf.CausalLMGenerator, temperature: float
) -> None:
    # Sampled at a high temperature, the values are still the model's raw log-softmax.
    req = request("where is paris", max_new_tokens=6, temperature=temperature, top_logprobs=4)
    (gen,) = generator.generate_batch([req])
    assert gen.logprobs is not None
    expected = forced(generator, req, ids_of(gen))
    assert len(expected) == len(gen.logprobs)
    for entry, row in zip(gen.logprobs, expected, strict=True):
        assert entry.token_id is not None
        assert entry.logprob == pytest.approx(row[entry.token_id].item(), abs=ATOL)
        best = row.topk(4)
        assert entry.top_logprobs == pytest.approx(best.values.tolist(), abs=ATOL)
        assert entry.top_ids == tuple(best.indices.tolist())


def test_no_logprobs_unless_asked(generator: hf.CausalLMGenerator) -> None:
    assert generator.generate("hello", max_new_tokens=3).logprobs is None
    asked, plain = generator.generate_batch(
        [request("hello", max_new_tokens=3, top_logprobs=2), request("hello", max_new_tokens=3)]
    )
    assert plain.logprobs is None and asked.logprobs is not None
    assert plain.text == asked.text


def test_batch_matches_single(generator: hf.CausalLMGenerator) -> None:
    # Prompts of different lengths (left padding) and different k in one batch.
    requests = [
        request("hi", max_new_tokens=5, top_logprobs=2),
        request("the capital of france is paris, what is the capital", max_new_tokens=5),
        request("search for a relevant passage", max_new_tokens=5, top_logprobs=6),
    ]
    batch = generator.generate_batch(requests)
    assert batch[1].logprobs is None
    for req, gen in zip(requests, batch, strict=True):
        if req.top_logprobs:
            assert_close(gen, generator.generate_batch([req])[0])


def test_the_eos_that_ends_a_completion_has_no_entry(tiny_causal_lm_path: Path) -> None:
    generator = hf.CausalLMGenerator(str(tiny_causal_lm_path), max_context=256)
    free = generator.generate("hello world", max_new_tokens=8, top_logprobs=2)
    ids = ids_of(free)
    # Make the first token that is not a repeat of an earlier one an end-of-sequence token.
    end = next(j for j in range(1, len(ids)) if ids[j] not in ids[:j])
    generator.lm.model.generation_config.eos_token_id = [
        generator.lm.tokenizer.eos_token_id,
        ids[end],
    ]
    gen = generator.generate("hello world", max_new_tokens=8, top_logprobs=2)
    assert gen.finish_reason == "stop"
    assert gen.usage["completion_tokens"] == end + 1  # usage counts the eos
    assert ids_of(gen) == ids[:end]
    assert free.logprobs is not None and gen.logprobs == free.logprobs[:end]


def test_a_stop_string_keeps_the_tokens_of_the_kept_text(
    generator: hf.CausalLMGenerator,
) -> None:
    free = generator.generate("hello world", max_new_tokens=8, top_logprobs=2)
    ids = ids_of(free)
    tokenizer = generator.lm.tokenizer
    # A whole word as the stop string: the text keeps the space the decoder put before it,
    # but the stop word's token is not kept for that space.
    stop = tokenizer.decode([ids[3]])
    cut = free.text.index(stop)
    assert free.text[cut - 1] == " "
    gen = generator.generate("hello world", max_new_tokens=8, top_logprobs=2, stop=[stop])
    assert gen.text == free.text[:cut] and gen.finish_reason == "stop"
    n = ids.index(ids[3])
    assert free.logprobs is not None and gen.logprobs == free.logprobs[:n]
    assert tokenizer.decode(ids_of(gen)) == gen.text.rstrip()


def test_kept_tokens_rule(generator: hf.CausalLMGenerator) -> None:
    tokenizer = generator.lm.tokenizer
    ids = tokenizer("paris is big", add_special_tokens=False)["input_ids"]
    assert len(ids) == 3
    assert kept_tokens(tokenizer, ids, "paris is big", stopped=False) == 3
    assert kept_tokens(tokenizer, ids, "paris is ", stopped=True) == 2  # " big" is the stop
    assert kept_tokens(tokenizer, ids, "paris i", stopped=True) == 2  # "is" straddles the cut
    assert kept_tokens(tokenizer, ids, " ", stopped=True) == 0
