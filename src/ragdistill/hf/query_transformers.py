"""Query transformers: a prompted causal LM, and a seq2seq (T5/BART) rewriter."""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import groupby
from pathlib import Path
from typing import Any

from ragdistill.contracts import GenerationRequest, Message, QueryRequest, QueryTransformer
from ragdistill.errors import ConfigError, require
from ragdistill.hf._loading import (
    DType,
    Lazy,
    ModelNamed,
    check_model_name,
    check_positive,
    clip_text,
    context_length,
    load_pretrained,
    load_tokenizer,
    torch_device,
)
from ragdistill.hf.generator import CausalLMGenerator

REWRITE_PROMPT = (
    "Rewrite the last question of the conversation as a stand-alone search query that "
    "can be understood without the conversation. Reply with the query only.\n\n"
    "{history}Question: {query}"
)
EXPAND_PROMPT = (
    "Write {n} different search queries that would find documents answering the question. "
    "Put each query on its own line, with no numbering and no other text.\n\n"
    "{history}Question: {query}"
)
_BULLET = re.compile(r"^\s*(?:[-*•]+|\(?\d{1,2}\s*[.):\]]|#+)\s*")


class LLMQueryTransformer(ModelNamed, QueryTransformer):
    """A causal LM asked to rewrite a conversational query, or to list alternatives.

    One query requested: the first line of the reply is the stand-alone rewrite. More:
    one query per line, numbering and bullets removed, duplicates dropped. Prompts
    take ``{history}`` (the transcript, empty without one), ``{query}`` and, for
    expansion, ``{n}``.
    """

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        dtype: DType = "float32",
        batch_size: int = 8,
        max_new_tokens: int = 96,
        temperature: float = 0.0,
        rewrite_prompt: str = REWRITE_PROMPT,
        expand_prompt: str = EXPAND_PROMPT,
        trust_remote_code: bool = False,
    ) -> None:
        check_positive(batch_size=batch_size, max_new_tokens=max_new_tokens)
        _check_template("rewrite_prompt", rewrite_prompt, query="", history="")
        _check_template("expand_prompt", expand_prompt, query="", history="", n=2)
        if temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {temperature}")
        self.model = check_model_name(model)
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.prompts = (rewrite_prompt, expand_prompt)
        self.generator = CausalLMGenerator(
            model,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            trust_remote_code=trust_remote_code,
        )

    def instruction(self, req: QueryRequest) -> str:
        """The user message sent to the LM for ``req``."""
        tokenizer = self.generator.lm.tokenizer
        # Quarter of the context each for the query and the transcript: the instruction
        # and the question must survive a huge input.
        room = max(16, self.generator.lm.context // 4)
        query = clip_text(tokenizer, req.query, room)
        history = clip_text(tokenizer, _transcript(req.history), room) if req.history else ""
        history = f"Conversation:\n{history}\n\n" if history else ""
        if req.num_queries == 1:
            return self.prompts[0].format(query=query, history=history)
        return self.prompts[1].format(query=query, history=history, n=req.num_queries)

    def transform_batch(self, requests: list[QueryRequest]) -> list[list[str]]:
        gen_requests = [
            GenerationRequest(
                (Message("user", self.instruction(r)),),
                max_new_tokens=self.max_new_tokens,
                temperature=self.temperature,
            )
            for r in requests
        ]
        outputs = self.generator.generate_batch(gen_requests)
        return [parse_queries(o.text, r.num_queries) for r, o in zip(requests, outputs)]


def parse_queries(text: str, n: int) -> list[str]:
    """Up to ``n`` queries from an LM reply: one a line, bullets and quotes removed."""
    out: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        query = _BULLET.sub("", line).strip().strip("\"'`").strip()
        # "Here are 3 queries:" and similar preambles end with a colon.
        if not query or query.endswith(":") or query.lower() in seen:
            continue
        seen.add(query.lower())
        out.append(query)
        if len(out) == n:
            break
    return out


class Seq2SeqQueryTransformer(ModelNamed, QueryTransformer):
    """A T5/BART-style model mapping ``history ||| query`` to a rewrite.

    More than one query requested: beam search returns that many distinct sequences.
    Input longer than ``max_length`` tokens loses its oldest turns first.
    """

    @classmethod
    def folder_match(cls, folder: Path, config: Mapping[str, Any]) -> int:
        archs = " ".join(config.get("architectures") or [])
        return 20 if "ConditionalGeneration" in archs or config.get("is_encoder_decoder") else 0

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        batch_size: int = 8,
        max_length: int = 512,
        max_new_tokens: int = 64,
        num_beams: int = 4,
        prefix: str = "",
        history_separator: str = " ||| ",
        trust_remote_code: bool = False,
    ) -> None:
        check_positive(
            batch_size=batch_size,
            max_length=max_length,
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
        )
        self.model = check_model_name(model)
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.prefix = prefix
        self.history_separator = history_separator
        self.trust_remote_code = trust_remote_code
        self._loaded: Lazy[tuple[Any, Any, int]] = Lazy(self._load)

    def _load(self) -> tuple[Any, Any, int]:
        transformers = require("transformers", extra="hf")
        tokenizer = load_tokenizer(self.model, trust_remote_code=self.trust_remote_code)
        tokenizer.truncation_side = "left"  # the current query is at the end: keep it
        model = load_pretrained(
            transformers.AutoModelForSeq2SeqLM,
            self.model,
            what="seq2seq model",
            trust_remote_code=self.trust_remote_code,
        )
        model.to(torch_device(self.device)).eval()
        # T5 uses relative positions (no max_position_embeddings); the option is the cap.
        return model, tokenizer, context_length(model, tokenizer, self.max_length)

    def source(self, req: QueryRequest) -> str:
        """The encoder input for ``req``."""
        turns = [m.content for m in req.history] + [req.query]
        return self.prefix + self.history_separator.join(turns)

    def transform_batch(self, requests: list[QueryRequest]) -> list[list[str]]:
        order = sorted(range(len(requests)), key=lambda i: requests[i].num_queries)
        out: dict[int, list[str]] = {}
        for n, group in groupby(order, key=lambda i: requests[i].num_queries):
            rows = list(group)
            decoded = self._generate([self.source(requests[i]) for i in rows], n)
            out.update(zip(rows, decoded))
        return [out[i] for i in range(len(requests))]

    def _generate(self, sources: list[str], n: int) -> list[list[str]]:
        import torch

        model, tokenizer, limit = self._loaded.get()
        inputs = tokenizer(
            sources, padding=True, truncation=True, max_length=limit, return_tensors="pt"
        ).to(model.device)
        beams = max(self.num_beams, n)
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                num_beams=beams,
                num_return_sequences=n,
                do_sample=False,
            )
        texts = tokenizer.batch_decode(output, skip_special_tokens=True)
        return [
            list(dict.fromkeys(t.strip() for t in texts[i * n : (i + 1) * n] if t.strip()))
            for i in range(len(sources))
        ]


def _transcript(history: tuple[Message, ...]) -> str:
    return "\n".join(f"{m.role}: {m.content}" for m in history)


def _check_template(name: str, template: str, **fields: Any) -> None:
    try:
        template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        allowed = ", ".join("{" + f + "}" for f in fields)
        raise ConfigError(
            f"{name} may use only {allowed} ({exc}); double literal braces as {{{{ }}}}"
        ) from None
    if "{query}" not in template:
        raise ConfigError(f"{name} must contain {{query}}; got {template!r:.80}")
