"""A generator backed by any Hugging Face causal LM, with its chat template."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from itertools import groupby
from pathlib import Path
from typing import Any

from ragdistill.contracts import Generation, GenerationRequest, Generator
from ragdistill.errors import require
from ragdistill.hf._causal import (
    CausalLM,
    cut_at_stop,
    encode_prompts,
    held_back,
    load_causal_lm,
    sampling_kwargs,
    stopping_criteria,
)
from ragdistill.hf._loading import (
    DType,
    Lazy,
    ModelNamed,
    check_model_name,
    check_positive,
    render_chat,
)
from ragdistill.hf._logprobs import kept_tokens, step_logprobs, token_logprobs

#: Held by a seeded sampling generation from its seed to its last draw. Sampling draws
#: from torch's process-wide random generator: two seeded generations in two threads
#: would interleave their draws, and neither would be repeatable. (An unseeded sampling
#: in another thread, of this or any library, still draws from it unlocked.)
_SEEDED_SAMPLING = threading.Lock()


class CausalLMGenerator(ModelNamed, Generator):
    """``AutoModelForCausalLM`` prompted through the tokenizer's chat template.

    Requests in a batch are left-padded and generated together (grouped by their
    decoding parameters). Temperature 0 decodes greedily, so output is deterministic.
    A prompt too long for the model loses its oldest tokens. ``finish_reason`` is
    ``"stop"`` (end of sequence or a stop string) or ``"length"``.

    ``max_new_tokens`` caps every request's own value; ``system_prompt`` is added to
    requests that carry no system message; ``seed`` makes sampling repeatable.

    A request with ``top_logprobs = k > 0`` gets :attr:`Generation.logprobs`: for each
    completion token, its id, its log-prob and the ``k`` most likely tokens, all from
    ``log_softmax`` of the model's raw logits at that step (before any temperature or
    top-p, so sampling does not distort them). The positions are the completion's own
    tokens: the end-of-sequence token that ends it and padding are left out, and after
    a stop-string cut only the tokens that carry kept text remain (see
    :func:`ragdistill.hf._logprobs.kept_tokens`). ``usage`` still counts the eos.
    """

    tokenizer_is_model = True

    @classmethod
    def folder_match(cls, folder: Path, config: Mapping[str, Any]) -> int:
        archs = " ".join(config.get("architectures") or [])
        return 20 if "CausalLM" in archs else 0

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        dtype: DType = "float32",
        batch_size: int = 8,
        max_new_tokens: int | None = None,
        max_context: int | None = None,
        system_prompt: str | None = None,
        seed: int | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        check_positive(
            batch_size=batch_size, max_new_tokens=max_new_tokens, max_context=max_context
        )
        self.model = check_model_name(model)
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.max_context = max_context
        self.system_prompt = system_prompt
        self.seed = seed
        self.trust_remote_code = trust_remote_code
        self._lm: Lazy[CausalLM] = Lazy(self._load)

    def _load(self) -> CausalLM:
        return load_causal_lm(
            self.model,
            device=self.device,
            dtype=self.dtype,
            trust_remote_code=self.trust_remote_code,
            max_context=self.max_context,
        )

    @property
    def lm(self) -> CausalLM:
        """The loaded model and tokenizer (loads them on first use)."""
        return self._lm.get()

    def prompt(self, req: GenerationRequest) -> str:
        """The rendered prompt text for ``req``."""
        messages = [m.to_dict() for m in req.messages]
        if self.system_prompt and messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return render_chat(self.lm.tokenizer, messages)

    def _budget(self, req: GenerationRequest) -> int:
        return min(req.max_new_tokens, self.max_new_tokens or req.max_new_tokens)

    @contextmanager
    def _seeded(self, temperature: float) -> Iterator[None]:
        """Around a generation: for a sampling one with a ``seed``, seeds torch and holds
        :data:`_SEEDED_SAMPLING` until it ends; nothing for a greedy or unseeded one."""
        if self.seed is None or temperature <= 0:
            yield
            return
        import torch

        with _SEEDED_SAMPLING:
            torch.manual_seed(self.seed)
            yield

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        out: dict[int, Generation] = {}

        def key(i: int) -> tuple[int, float, tuple[str, ...]]:
            req = requests[i]
            return (self._budget(req), req.temperature, req.stop)

        for (budget, temperature, stops), group in groupby(
            sorted(range(len(requests)), key=key), key
        ):
            rows = list(group)
            gens = self._generate([requests[i] for i in rows], budget, temperature, stops)
            out.update(zip(rows, gens))
        return [out[i] for i in range(len(requests))]

    def _generate(
        self, reqs: list[GenerationRequest], budget: int, temperature: float, stops: tuple[str, ...]
    ) -> list[Generation]:
        import torch

        lm = self.lm
        inputs = encode_prompts(lm, [self.prompt(r) for r in reqs], reserve=budget)
        prompt_len = inputs["input_ids"].shape[1]
        # Rows that asked for fewer alternatives slice the largest request's top-k.
        k = max(r.top_logprobs for r in reqs)
        extra = {"output_logits": True, "return_dict_in_generate": True} if k else {}
        with self._seeded(temperature), torch.inference_mode():
            output = lm.model.generate(
                **inputs,
                max_new_tokens=budget,
                stopping_criteria=stopping_criteria(lm.tokenizer, prompt_len, stops),
                pad_token_id=lm.tokenizer.pad_token_id,
                **sampling_kwargs(temperature),
                **extra,
            )
            sequences = output.sequences if k else output
            steps = step_logprobs(output.logits, sequences[:, prompt_len:], k) if k else None
        del output  # the per-step logits (and a returned cache) are no longer needed
        eos = _eos_ids(lm)
        results = []
        for i, (req, row, mask) in enumerate(zip(reqs, sequences, inputs["attention_mask"])):
            new = row[prompt_len:].tolist()
            ended = next((j for j, t in enumerate(new) if t in eos), None)
            if ended is not None:
                new = new[: ended + 1]
            else:
                while new and new[-1] == lm.tokenizer.pad_token_id:
                    new.pop()
            body = new[:ended] if ended is not None else new  # the tokens before the eos
            text = lm.tokenizer.decode(new, skip_special_tokens=True)
            text, stopped = cut_at_stop(text, stops)
            reason = "stop" if ended is not None or stopped or len(new) < budget else "length"
            usage = {"prompt_tokens": int(mask.sum()), "completion_tokens": len(new)}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            logprobs = None
            if steps is not None and req.top_logprobs:
                n = kept_tokens(lm.tokenizer, body, text, stopped)
                logprobs = token_logprobs(
                    lm.tokenizer,
                    body[:n],
                    steps.chosen[i],
                    steps.top_values[i],
                    steps.top_ids[i],
                    req.top_logprobs,
                )
            results.append(Generation(text, reason, usage, logprobs))
        return results

    def stream(self, req: GenerationRequest) -> Iterator[str]:
        """Yield text as it is generated; nothing after a stop string is ever yielded."""
        transformers = require("transformers", extra="hf")
        import torch

        lm = self.lm
        budget = self._budget(req)
        inputs = encode_prompts(lm, [self.prompt(req)], reserve=budget)
        streamer = transformers.TextIteratorStreamer(
            lm.tokenizer, skip_prompt=True, skip_special_tokens=True
        )
        cancel = threading.Event()
        errors: list[BaseException] = []
        kwargs: dict[str, Any] = dict(
            **inputs,
            max_new_tokens=budget,
            streamer=streamer,
            stopping_criteria=stopping_criteria(
                lm.tokenizer, inputs["input_ids"].shape[1], req.stop, cancel
            ),
            pad_token_id=lm.tokenizer.pad_token_id,
            **sampling_kwargs(req.temperature),
        )

        def run() -> None:
            try:
                with self._seeded(req.temperature), torch.inference_mode():
                    lm.model.generate(**kwargs)
            except BaseException as exc:  # surfaced in the consumer's thread below
                errors.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            yield from _until_stop(streamer, req.stop)
        finally:
            # The consumer may stop early: end generation instead of running to the limit.
            cancel.set()
            thread.join()
        if errors:
            raise errors[0]


def _until_stop(pieces: Iterator[str], stops: tuple[str, ...]) -> Iterator[str]:
    """Re-chunk ``pieces``, holding back text that may begin a stop string."""
    buffer = ""
    for piece in pieces:
        buffer += piece
        text, found = cut_at_stop(buffer, stops)
        if found:
            if text:
                yield text
            return
        ready = len(buffer) - held_back(buffer, stops)
        if ready > 0:
            yield buffer[:ready]
            buffer = buffer[ready:]
    if buffer:
        yield buffer


def _eos_ids(lm: CausalLM) -> set[int]:
    eos = getattr(lm.model.generation_config, "eos_token_id", None)
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if lm.tokenizer.eos_token_id is not None:
        ids.add(lm.tokenizer.eos_token_id)
    return ids
