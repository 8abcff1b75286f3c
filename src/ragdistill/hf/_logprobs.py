"""Per-token log-probabilities of a causal LM's completions, read from ``generate``'s logits.

``generate(..., output_logits=True, return_dict_in_generate=True)`` returns one
``[batch, vocab]`` tensor of *raw* logits per step: what the model said before any
temperature, top-p or repetition processor touched them. :func:`step_logprobs` turns
each into a ``log_softmax`` and keeps only the chosen token's value and the ``k`` best,
one step at a time, so no ``[steps, vocab]`` log-prob tensor is ever held.

Which positions a completion keeps is :func:`kept_tokens`'s rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ragdistill.contracts import TokenLogprobs

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class StepLogprobs:
    """Per row and generated position: the chosen token's log-prob and the top ``k``."""

    chosen: list[list[float]]  # [batch][steps]
    top_values: list[list[list[float]]]  # [batch][steps][k], best first
    top_ids: list[list[list[int]]]  # [batch][steps][k]


def step_logprobs(logits: Sequence[torch.Tensor], generated: torch.Tensor, k: int) -> StepLogprobs:
    """``log_softmax`` of each step's raw ``logits`` at the ``generated`` ids ``[batch, steps]``.

    ``k`` is capped at the vocabulary size. Each step's full log-softmax lives only
    while that step is reduced.
    """
    import torch

    if len(logits) != generated.shape[1]:
        raise ValueError(
            f"{len(logits)} steps of logits for {generated.shape[1]} generated tokens; "
            "generate() must be called with output_logits=True"
        )
    if not logits:
        empty: list[list[Any]] = [[] for _ in range(generated.shape[0])]
        return StepLogprobs(empty, [list(r) for r in empty], [list(r) for r in empty])
    k = min(k, logits[0].shape[-1])
    chosen, values, ids = [], [], []
    for step, raw in enumerate(logits):
        logprobs = torch.log_softmax(raw.float(), dim=-1)
        token = generated[:, step : step + 1].to(logprobs.device)
        chosen.append(logprobs.gather(-1, token).squeeze(-1))
        best = logprobs.topk(k, dim=-1)
        values.append(best.values)
        ids.append(best.indices)
    return StepLogprobs(
        torch.stack(chosen, dim=1).cpu().tolist(),
        torch.stack(values, dim=1).cpu().tolist(),
        torch.stack(ids, dim=1).cpu().tolist(),
    )


def kept_tokens(tokenizer: Any, ids: Sequence[int], text: str, stopped: bool) -> int:
    """How many leading ``ids`` the completion ``text`` keeps (``ids`` without the eos).

    Without a stop-string cut, all of them. After a cut, the shortest prefix of ``ids``
    whose decoded text (``skip_special_tokens=True``, as for the completion) is at least
    as long as the kept ``text`` less its trailing whitespace. So a token that carries a
    visible character of the kept text is kept, also one that straddles the cut
    (``".\n\n"`` before a ``"\n\n"`` stop); tokens that carry only whitespace before
    the stop string (``" their"`` for a ``"their"`` stop), the stop string itself or
    what came after it are not. A cut that leaves only whitespace keeps none.
    """
    if not stopped:
        return len(ids)
    need = len(text.rstrip())
    for n in range(len(ids) + 1):
        if len(tokenizer.decode(list(ids[:n]), skip_special_tokens=True)) >= need:
            return n
    return len(ids)


def token_logprobs(
    tokenizer: Any,
    ids: Sequence[int],
    chosen: Sequence[float],
    top_values: Sequence[Sequence[float]],
    top_ids: Sequence[Sequence[int]],
    k: int,
) -> tuple[TokenLogprobs, ...]:
    """One :class:`TokenLogprobs` per id in ``ids``, with the first ``k`` alternatives.

    Token strings are the tokenizer's own (``convert_ids_to_tokens``, e.g. ``"Ġthe"``
    or ``"##s"``); an id the tokenizer does not know (a model's padded vocabulary) is
    ``""``.
    """
    out = []
    for i, token_id in enumerate(ids):
        best = list(top_ids[i][:k])
        names = _tokens(tokenizer, [token_id, *best])
        out.append(
            TokenLogprobs(
                token=names[0],
                token_id=int(token_id),
                logprob=float(chosen[i]),
                top_tokens=tuple(names[1:]),
                top_ids=tuple(int(t) for t in best),
                top_logprobs=tuple(float(v) for v in top_values[i][:k]),
            )
        )
    return tuple(out)


def _tokens(tokenizer: Any, ids: list[int]) -> list[str]:
    names = tokenizer.convert_ids_to_tokens(ids)
    return [name if isinstance(name, str) else "" for name in names]
