"""A reranker that asks a causal LM whether a document answers a query."""

from __future__ import annotations

from typing import Any

import numpy as np

from ragdistill.contracts import FloatArray, Pair, Reranker
from ragdistill.errors import ConfigError
from ragdistill.hf._causal import CausalLM, encode_prompts, load_causal_lm
from ragdistill.hf._loading import (
    DType,
    Lazy,
    ModelNamed,
    check_model_name,
    check_positive,
    clip_text,
    render_chat,
)

DEFAULT_JUDGE_PROMPT = (
    "Judge whether the document is relevant to the search query. "
    "Answer with only yes or no.\n\n"
    "Query: {query}\n\nDocument: {document}\n\nIs the document relevant to the query?"
)


class LLMJudgeReranker(ModelNamed, Reranker):
    """Score = ``log P(yes) - log P(no)`` for the LM's next token after a judging prompt.

    ``prompt_template`` must contain ``{query}`` and ``{document}``; it is sent as one
    user turn through the chat template. Each answer word counts its common spellings
    (``yes``, ``Yes``, `` yes``...), summed in probability. Over-long queries and
    documents are cut so the question at the end of the prompt always fits.
    """

    def __init__(
        self,
        model: str,
        prompt_template: str = DEFAULT_JUDGE_PROMPT,
        device: str = "cpu",
        dtype: DType = "float32",
        batch_size: int = 8,
        max_length: int = 1024,
        yes_word: str = "yes",
        no_word: str = "no",
        trust_remote_code: bool = False,
    ) -> None:
        check_positive(batch_size=batch_size, max_length=max_length)
        missing = [f for f in ("{query}", "{document}") if f not in prompt_template]
        if missing:
            raise ConfigError(
                f"prompt_template must contain {' and '.join(missing)}; got {prompt_template!r:.80}"
            )
        try:
            prompt_template.format(query="", document="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"prompt_template has a placeholder other than {{query}} and {{document}} "
                f"({exc}); double any literal braces as {{{{ }}}}"
            ) from None
        self.model = check_model_name(model)
        self.prompt_template = prompt_template
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.max_length = max_length
        self.words = (yes_word, no_word)
        self.trust_remote_code = trust_remote_code
        self._loaded: Lazy[tuple[CausalLM, list[int], list[int], int]] = Lazy(self._load)

    def _load(self) -> tuple[CausalLM, list[int], list[int], int]:
        lm = load_causal_lm(
            self.model,
            device=self.device,
            dtype=self.dtype,
            trust_remote_code=self.trust_remote_code,
            max_context=self.max_length,
        )
        yes = _first_token_ids(lm.tokenizer, self.words[0])
        no = _first_token_ids(lm.tokenizer, self.words[1])
        if set(yes) & set(no):
            raise ConfigError(
                f"the words {self.words[0]!r} and {self.words[1]!r} start with the same token "
                f"in {self.model!r}'s tokenizer; pick yes_word/no_word that differ at once"
            )
        empty = render_chat(lm.tokenizer, [self._message("", "")])
        overhead = len(lm.tokenizer(empty, add_special_tokens=False)["input_ids"])
        return lm, yes, no, overhead

    def _message(self, query: str, document: str) -> dict[str, str]:
        return {
            "role": "user",
            "content": self.prompt_template.format(query=query, document=document),
        }

    def score_pairs(self, pairs: list[Pair]) -> FloatArray:
        import torch

        lm, yes, no, overhead = self._loaded.get()
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        room = max(8, lm.context - overhead - 1)
        prompts = []
        with lm.lock:  # each clip sets its own truncation on the shared tokenizer
            for query, document in pairs:
                # The query gets at most a quarter of the room; the document the rest.
                query = clip_text(lm.tokenizer, query, room // 4)
                used = len(lm.tokenizer(query, add_special_tokens=False)["input_ids"])
                document = clip_text(lm.tokenizer, document, room - used)
                prompts.append(render_chat(lm.tokenizer, [self._message(query, document)]))
        inputs = encode_prompts(lm, prompts, reserve=0)
        with torch.inference_mode():
            logits = lm.model(**inputs).logits[:, -1, :].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        score = torch.logsumexp(logprobs[:, yes], dim=-1) - torch.logsumexp(logprobs[:, no], dim=-1)
        return np.asarray(score.cpu().numpy(), dtype=np.float32)


def _first_token_ids(tokenizer: Any, word: str) -> list[int]:
    """First-token ids of ``word``'s spellings: as is, capitalised, with a leading space."""
    ids: list[int] = []
    for variant in dict.fromkeys([word, word.capitalize(), " " + word, " " + word.capitalize()]):
        tokens = tokenizer(variant, add_special_tokens=False)["input_ids"]
        if not tokens or tokens[0] in ids or tokens[0] == tokenizer.unk_token_id:
            continue
        # A bare space piece (sentencepiece's "▁") would count every spaced word as yes.
        if tokenizer.decode(tokens[:1]).strip():
            ids.append(tokens[0])
    if not ids:
        raise ConfigError(f"the answer word {word!r} has no token in this tokenizer")
    return ids
