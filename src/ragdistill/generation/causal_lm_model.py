"""The trainable module of a causal-LM generator student (imports torch).

A batch is a list of ``(prompt_ids, target_ids)`` rows: the prompt as
:class:`~ragdistill.hf.generator.CausalLMGenerator` feeds it to the model (see
:meth:`CausalLMStudentModel.prompt_ids`) and the answer tokens ending with the
end-of-turn token (:meth:`CausalLMStudentModel.target_ids`). ``forward`` returns the
logits that predict each target token under teacher forcing, and nothing else: the
output layer runs on those positions only, never on the (long) prompt.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ragdistill.errors import ConfigError
from ragdistill.hf._loading import render_chat
from ragdistill.students.model import StudentModel

#: One training row: the prompt's token ids, then the answer's.
Row = tuple[Sequence[int], Sequence[int]]


class CausalLMStudentModel(StudentModel):
    """A transformers causal LM, optionally wrapped with LoRA adapters by peft.

    ``forward(batch)`` takes ``(prompt_ids, target_ids)`` rows and returns logits
    ``[B, T, V]``, ``T`` the longest target and ``V`` the vocabulary (:attr:`vocab_size`,
    the output layer's rows): ``logits[b, t]`` predicts ``target_ids[b][t]`` from the
    prompt and the targets before it, i.e. it is taken at sequence position
    ``len(prompt) + t - 1``. Positions past a row's own target length are zero.

    A row longer than ``max_length`` tokens loses its oldest prompt tokens, never its
    answer, as the generator left-truncates prompts at inference. A row whose answer
    alone fills ``max_length`` keeps one prompt token and runs longer: cap the answers
    (the teacher's ``max_new_tokens``) below ``max_length``.
    """

    def __init__(self, model: Any, tokenizer: Any, *, max_length: int) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        head = self.causal_lm.get_output_embeddings()
        self.vocab_size = int(head.weight.shape[0])
        self.output_dim = self.vocab_size
        self.eos_id = _end_of_turn_id(self.causal_lm, tokenizer)
        # Padding sits right of every row and is masked out, so any valid id will do.
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else self.eos_id)

    @property
    def causal_lm(self) -> Any:
        """The transformers model (with LoRA: the one under peft's wrapper, adapters inside)."""
        get_base = getattr(self.model, "get_base_model", None)
        return get_base() if get_base is not None else self.model

    @property
    def is_lora(self) -> bool:
        return hasattr(self.model, "peft_config")

    # --- encoding, exactly as the generator reads it ------------------------------------

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """``messages`` rendered and tokenized as ``CausalLMGenerator`` does (untruncated),
        ending with the generation prompt where the answer begins."""
        tokenizer = self.tokenizer
        text = render_chat(tokenizer, messages)
        # A chat template writes the BOS token itself; a plain transcript relies on the
        # tokenizer to add it (the same rule as ragdistill.hf._causal.encode_prompts).
        encoded = tokenizer(text, add_special_tokens=not getattr(tokenizer, "chat_template", None))
        return list(encoded["input_ids"])

    def target_ids(self, text: str) -> list[int]:
        """The answer's tokens followed by the token that ends the assistant's turn."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return [*ids, self.eos_id]

    # --- training ------------------------------------------------------------------------

    def forward(self, batch: Sequence[Row]) -> torch.Tensor:
        if not batch:
            raise ValueError("a generator student batch needs at least one (prompt, target) row")
        rows = [self._fit(list(prompt), list(target)) for prompt, target in batch]
        width = max(len(p) + len(t) for p, t in rows)
        n_target = max(len(t) for _, t in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        index = torch.zeros((len(rows), n_target), dtype=torch.long)
        valid = torch.zeros((len(rows), n_target), dtype=torch.bool)
        for b, (prompt, target) in enumerate(rows):
            ids[b, : len(prompt) + len(target)] = torch.tensor(prompt + target)
            mask[b, : len(prompt) + len(target)] = 1
            index[b, : len(target)] = torch.arange(len(target)) + len(prompt) - 1
            valid[b, : len(target)] = True
        device = next(self.model.parameters()).device
        logits = self._logits_at(ids.to(device), mask.to(device), index.to(device))
        return logits.masked_fill(~valid.to(device)[..., None], 0.0)

    def _fit(self, prompt: list[int], target: list[int]) -> tuple[list[int], list[int]]:
        if not prompt:
            raise ValueError(
                "a generator student row has no prompt tokens: the first answer token is "
                "predicted from the prompt, so render the prompt with prompt_ids()"
            )
        return prompt[-max(1, self.max_length - len(target)) :], target

    def _logits_at(
        self, ids: torch.Tensor, mask: torch.Tensor, index: torch.Tensor
    ) -> torch.Tensor:
        """The model's logits at ``index[b, t]`` of each row ``b``: ``[B, T, V]``.

        The output layer receives the final hidden states of every position; a pre-hook
        hands it only the gathered ones. The model's own code still runs after the
        layer (logit scaling or soft-capping of Gemma, Cohere, Granite), and it works the
        same under peft and on every transformers version.
        """

        def gather(module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
            hidden = args[0]
            if hidden.shape[:2] != ids.shape:
                raise RuntimeError(
                    f"{type(self.causal_lm).__name__} called its output layer on hidden "
                    f"states of shape {tuple(hidden.shape)}, not one per input token; "
                    "this architecture is not supported as a generator student"
                )
            return (torch.take_along_dim(hidden, index[..., None], dim=1), *args[1:])

        handle = self.causal_lm.get_output_embeddings().register_forward_pre_hook(gather)
        try:
            output = self.model(input_ids=ids, attention_mask=mask, use_cache=False)
        finally:
            handle.remove()
        logits: torch.Tensor = output.logits
        return logits

    # --- saving --------------------------------------------------------------------------

    def save_artifact(self, path: Path) -> None:
        """A plain transformers folder (safetensors, config, generation config, tokenizer).

        LoRA adapters are merged into a copy, so the module keeps training afterwards.
        """
        model = copy.deepcopy(self.model).merge_and_unload() if self.is_lora else self.model
        model.save_pretrained(str(path))
        self.tokenizer.save_pretrained(str(path))


def _end_of_turn_id(model: Any, tokenizer: Any) -> int:
    """The token a trained answer ends with.

    Generation stops at any id of the model's ``generation_config.eos_token_id`` (plain
    transformers and ``CausalLMGenerator`` alike). Instruct models list their chat
    template's end-of-turn token there, first where there are several (Qwen2.5-Instruct:
    ``<|im_end|>`` before ``<|endoftext|>``), whereas a tokenizer's ``eos_token`` may be
    the end-of-document token the model never emits in a chat. The tokenizer's eos is
    the fallback for models without a generation config.
    """
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    if isinstance(eos, (list, tuple)):
        eos = eos[0] if eos else None
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        raise ConfigError(
            "the student model has no end-of-sequence token (neither its generation config "
            "nor its tokenizer names one), so it could not learn to stop; use a model that has one"
        )
    return int(eos)
