"""Query transformers: a prompted causal LM, and a seq2seq (T5/BART) rewriter."""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import groupby
from pathlib import Path
from typing import Any, Literal, get_args

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
from ragdistill.query_parsing import Task, TaskedQueries, parse_passage, parse_queries

REWRITE_PROMPT = (
    "{history}Question: {query}\n\nThe question above may be a follow-up: it may use words "
    "like it, its, he, she, they or this, or leave out what the conversation is about. "
    "Rewrite it as a complete question that names what those words refer to, taken from "
    "the conversation. Do not answer it. Reply with the rewritten question only."
)
EXPAND_PROMPT = (
    "Write {n} different search queries that would find documents answering the question. "
    "Vary the wording and the angle. Do not answer it. Reply on one line with the queries "
    'separated by " ||| ", with no numbering and no other text.\n\n'
    "Example\nQuestion: Does vitamin D lower the risk of fractures?\nQueries: vitamin D "
    "supplementation fracture risk ||| effect of vitamin D on bone fractures in older "
    "adults ||| vitamin D and hip fracture incidence\n\n"
    "{history}Question: {query}\nQueries:"
)
HYDE_PROMPT = (
    "Write a short passage, two or three sentences, that answers the question as a "
    "document about it would. Reply with the passage only.\n\n{history}Question: {query}"
    "\nPassage:"
)
#: The prompt of a distilled student that learned its task from the teacher's outputs
#: (``student_prompt = "bare"``): no instruction, fewer tokens to read per query.
BARE_PROMPT = "{history}Question: {query}"


class LLMQueryTransformer(TaskedQueries, ModelNamed, QueryTransformer):
    """A causal LM asked to rewrite a conversational query, to list alternatives, or to
    write a hypothetical answer passage (HyDE) that is embedded instead of the query.

    ``task = "auto"`` rewrites when one query is requested and expands otherwise;
    ``"rewrite"``, ``"expand"`` (always ``num_queries`` alternatives, the number it was
    trained on) and ``"hyde"`` (one passage) fix it, as a distilled student does.
    Replies are parsed leniently (:mod:`ragdistill.query_parsing`): ``|||`` or line
    breaks between queries, numbering, bullets, labels and quotes removed, duplicates
    dropped. Prompts take ``{history}`` (the transcript, empty without one), ``{query}``
    and, for expansion, ``{n}``.
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
        hyde_prompt: str = HYDE_PROMPT,
        task: Task = "auto",
        num_queries: int = 3,
        trust_remote_code: bool = False,
    ) -> None:
        check_positive(batch_size=batch_size, max_new_tokens=max_new_tokens)
        check_positive(num_queries=num_queries)
        _check_template("rewrite_prompt", rewrite_prompt, query="", history="")
        _check_template("expand_prompt", expand_prompt, query="", history="", n=2)
        _check_template("hyde_prompt", hyde_prompt, query="", history="")
        if temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {temperature}")
        if task not in get_args(Task):
            raise ConfigError(f"task must be one of {', '.join(get_args(Task))}; got {task!r}")
        self.model = check_model_name(model)
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.prompts = {"rewrite": rewrite_prompt, "expand": expand_prompt, "hyde": hyde_prompt}
        self.task = task
        self.num_queries = num_queries
        self.generator = CausalLMGenerator(
            model,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            trust_remote_code=trust_remote_code,
        )

    def instruction_text(self, task: str) -> str:
        """``task``'s prompt less its ``{fields}``: replies copying it are dropped."""
        return re.sub(r"\{\w+\}", " ", self.prompts[task])

    def instruction(self, req: QueryRequest) -> str:
        """The user message sent to the LM for ``req``."""
        lm = self.generator.lm
        # Quarter of the context each for the query and the transcript: the instruction
        # and the question must survive a huge input.
        room = max(16, lm.context // 4)
        with lm.lock:  # clipping sets other truncation than the prompts' (CausalLM.lock)
            query = clip_text(lm.tokenizer, req.query, room)
            history = clip_text(lm.tokenizer, transcript(req.history), room) if req.history else ""
        return render(self.prompts, self.task_of(req), query, history, self.count_of(req))

    def generation_request(self, req: QueryRequest) -> GenerationRequest:
        """The generation :meth:`transform_batch` asks its LM for (what distillation stores)."""
        return GenerationRequest(
            (Message("user", self.instruction(req)),),
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
        )

    def transform_batch(self, requests: list[QueryRequest]) -> list[list[str]]:
        outputs = self.generator.generate_batch([self.generation_request(r) for r in requests])
        return [self.parse(o.text, r) for r, o in zip(requests, outputs)]


def render(prompts: Mapping[str, str], task: str, query: str, history: str, n: int) -> str:
    """The instruction of ``task`` for ``query`` after the transcript ``history``."""
    block = f"Conversation:\n{history}\n\n" if history else ""
    return prompts[task].format(query=query, history=block, n=n)


class Seq2SeqQueryTransformer(ModelNamed, QueryTransformer):
    """A T5/BART-style model mapping ``prefix + history ||| query`` to a rewrite.

    More than one query requested: with ``expansion = "beams"`` beam search returns that
    many distinct sequences; with ``"separator"`` (how a distilled student writes an
    expansion) one sequence holds them, separated by ``|||``. ``task`` fixes what the
    model was trained for, as in :class:`LLMQueryTransformer` (``"hyde"``: one passage).
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
        expansion: Literal["beams", "separator"] = "beams",
        task: Task = "auto",
        num_queries: int = 3,
        trust_remote_code: bool = False,
    ) -> None:
        check_positive(
            batch_size=batch_size,
            max_length=max_length,
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
            num_queries=num_queries,
        )
        if expansion not in ("beams", "separator"):
            raise ConfigError(f'expansion must be "beams" or "separator", got {expansion!r}')
        if task not in get_args(Task):
            raise ConfigError(f"task must be one of {', '.join(get_args(Task))}; got {task!r}")
        self.model = check_model_name(model)
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.prefix = prefix
        self.history_separator = history_separator
        self.expansion = expansion
        self.task = task
        self.num_queries = num_queries
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

    def _sequences(self, req: QueryRequest) -> int:
        """How many sequences to decode for ``req`` (beam-search expansion only: > 1)."""
        if self.task in ("rewrite", "hyde") or self.expansion == "separator":
            return 1
        return self.num_queries if self.task == "expand" else req.num_queries

    def parse(self, text: str, req: QueryRequest) -> list[str]:
        """The queries (or passage) in one decoded sequence for ``req``."""
        if self.task == "hyde":
            passage = parse_passage(text)
            return [passage] if passage else []
        wanted = self.num_queries if self.task == "expand" else req.num_queries
        if self.expansion == "separator" and wanted > 1 and self.task != "rewrite":
            return parse_queries(text, wanted)
        return [text.strip()] if text.strip() else []

    def transform_batch(self, requests: list[QueryRequest]) -> list[list[str]]:
        order = sorted(range(len(requests)), key=lambda i: self._sequences(requests[i]))
        out: dict[int, list[str]] = {}
        for n, group in groupby(order, key=lambda i: self._sequences(requests[i])):
            rows = list(group)
            decoded = self._generate([self.source(requests[i]) for i in rows], n)
            for i, texts in zip(rows, decoded):
                parsed = [q for text in texts for q in self.parse(text, requests[i])]
                out[i] = list(dict.fromkeys(parsed))
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
            [t.strip() for t in texts[i * n : (i + 1) * n] if t.strip()]
            for i in range(len(sources))
        ]


def transcript(history: tuple[Message, ...]) -> str:
    """The conversation as the prompts show it: one ``role: content`` line per turn."""
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
