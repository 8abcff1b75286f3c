"""Loading a causal LM for batched inference, and cutting completions at stop strings."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from ragdistill.errors import require
from ragdistill.hf._loading import (
    context_length,
    dtype_kwargs,
    load_pretrained,
    load_tokenizer,
    torch_device,
)


@dataclass
class CausalLM:
    model: Any
    tokenizer: Any
    #: Tokens the model accepts, prompt and completion together.
    context: int
    #: Held around every call that encodes with ``tokenizer``. A fast tokenizer keeps
    #: truncation and padding as settings of its one Rust tokenizer, set by each call
    #: before it encodes: calls with other settings (prompts for another budget, a clipped
    #: query, a token count) in another thread could otherwise change them in between.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


def encoding_lock(component: object) -> AbstractContextManager[Any]:
    """What to hold while encoding with ``component``'s tokenizer from outside it.

    A Hugging Face generator's ``CausalLM.lock`` (see ``CausalLM.lock``): a token count
    in a shim sets other truncation and padding on the tokenizer the generator shares.
    A component without one (a remote API) needs nothing held.
    """
    lock = getattr(getattr(component, "lm", None), "lock", None)
    return lock if lock is not None else nullcontext()


def load_causal_lm(
    name: str,
    *,
    device: str,
    dtype: str,
    trust_remote_code: bool = False,
    max_context: int | None = None,
) -> CausalLM:
    """Model and tokenizer set up for batches: left padding, a pad token, eval mode."""
    transformers = require("transformers", extra="hf")
    tokenizer = load_tokenizer(name, trust_remote_code=trust_remote_code)
    # Left padding keeps every prompt's last token at position -1, where generation
    # starts and where a judge reads the next-token distribution.
    tokenizer.padding_side = "left"
    # Over-long prompts lose their oldest text, never the question at the end.
    tokenizer.truncation_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    model = load_pretrained(
        transformers.AutoModelForCausalLM,
        name,
        what="causal language model",
        trust_remote_code=trust_remote_code,
        **dtype_kwargs(dtype),
    )
    model.to(torch_device(device)).eval()
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return CausalLM(model, tokenizer, context_length(model, tokenizer, max_context))


def encode_prompts(lm: CausalLM, prompts: list[str], *, reserve: int) -> Any:
    """Tokenize rendered prompts, left-truncated to leave ``reserve`` tokens to generate."""
    limit = max(1, lm.context - reserve)
    # A chat template writes the BOS token into the text when the model wants one; the
    # plain transcript used without a template relies on the tokenizer to add it.
    with lm.lock:
        encoded = lm.tokenizer(
            prompts,
            add_special_tokens=not getattr(lm.tokenizer, "chat_template", None),
            padding=True,
            truncation=True,
            max_length=limit,
            return_tensors="pt",
        )
    return encoded.to(lm.model.device)


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the earliest stop string, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters of ``text`` could begin a stop string (stream buffer)."""
    keep = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                keep = max(keep, n)
                break
    return keep


def stopping_criteria(
    tokenizer: Any, prompt_len: int, stops: Sequence[str], cancel: threading.Event | None = None
) -> Any:
    """Criteria ending each row once its completion holds a stop string (or on ``cancel``)."""
    transformers = require("transformers", extra="hf")
    import torch

    class _Stop(transformers.StoppingCriteria):  # type: ignore[misc, name-defined]
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            rows = input_ids.shape[0]
            if cancel is not None and cancel.is_set():
                return torch.ones(rows, dtype=torch.bool, device=input_ids.device)
            done = [
                cut_at_stop(tokenizer.decode(row[prompt_len:], skip_special_tokens=True), stops)[1]
                if stops
                else False
                for row in input_ids
            ]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return transformers.StoppingCriteriaList([_Stop()])


def sampling_kwargs(temperature: float) -> dict[str, Any]:
    """Greedy decoding at temperature 0; otherwise sampling at that temperature."""
    if temperature == 0:
        # Clear sampling knobs a model's generation_config may set, so greedy stays greedy.
        return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    return {"do_sample": True, "temperature": temperature}
