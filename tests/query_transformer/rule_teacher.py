"""A rule-following teacher for query-transformer tests: an LLM stand-in that obeys the
stage's prompts deterministically, so tiny end-to-end runs have valid follow-ups and
rewrites to learn from (a tiny random LM writes neither). The student stays a real model."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from ragdistill.contracts import Generation, GenerationRequest, Generator
from ragdistill.hf import LLMQueryTransformer
from ragdistill.hookspecs import hookimpl

_QUESTION = re.compile(r"^(?:Question|Next question): (.*)$", re.MULTILINE)
_FOLLOW = re.compile(r'^Next question: (.*) \(replace "(.*)"\)$', re.MULTILINE)
_USER = re.compile(r"^user: (.*)$", re.MULTILINE)


class RuleGenerator(Generator):
    """Follow-up prompts: the question with the phrase to replace made "it". Rewrite
    prompts: "it" replaced by the topic of the conversation's first question. Expansion:
    the query in three forms joined by |||. HyDE: a passage repeating the query."""

    model = "rule-teacher"

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        return [Generation(self._reply(r.messages[-1].content)[: 40 * r.max_new_tokens])
                for r in requests]  # fmt: skip

    def _reply(self, prompt: str) -> str:
        if found := _FOLLOW.findall(prompt):
            question, reference = found[-1]
            return question.replace(reference, "it")
        question = (_QUESTION.findall(prompt) or [prompt])[-1].strip()
        words = question.rstrip("?").split()
        if "different search queries" in prompt:
            return " ||| ".join([question, " ".join(words[1:]), " ".join(reversed(words))])
        if "short passage" in prompt:
            return f"Passage: {' '.join(words)} is described here. {' '.join(words[1:])}."
        users = _USER.findall(prompt)
        topic = users[0].split()[1] if users and len(users[0].split()) > 1 else "it"
        return " ".join(topic if w == "it" else w for w in words) + "?"


class RuleQueryTransformer(LLMQueryTransformer):
    """:class:`LLMQueryTransformer`'s prompts and parsing over :class:`RuleGenerator`."""

    def __init__(self, model: str = "rule-teacher", **options: object) -> None:
        super().__init__(model, **options)  # type: ignore[arg-type]
        self.generator = RuleGenerator()  # type: ignore[assignment]

    def instruction(self, req):  # type: ignore[no-untyped-def]
        from ragdistill.hf.query_transformers import render, transcript

        history = transcript(req.history) if req.history else ""
        return render(self.prompts, self.task_of(req), req.query, history, self.count_of(req))


class RulePlugin:
    @hookimpl
    def register_teachers(self, register):  # type: ignore[no-untyped-def]
        register("rule-llm", RuleQueryTransformer)


# --- Added helper ---------------------------------------------------------------------


@contextmanager
def registered(plugin: object, name: str = "query-rule-teacher") -> Iterator[None]:
    """``plugin`` registered in the default plugin manager (and the registry rebuilt)
    for the duration of the block."""
    from ragdistill import plugins, registry

    pm = plugins.default_plugin_manager()
    pm.register(plugin, name=name)
    registry.reset()
    try:
        yield
    finally:
        pm.unregister(plugin)
        registry.reset()
