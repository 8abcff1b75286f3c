"""Teacher log-probs as arrays in the student's vocabulary (for token-level KD)."""

from __future__ import annotations

from typing import Any

import numpy as np


def logprob_converter(tokenizer: Any, k: int) -> Any:
    """Generation -> (token ids, top ids, top log-probs) arrays in the student's vocabulary.

    Ids come from the teacher where it gives them (a shared tokenizer is checked before
    labelling); an API that returns only token strings is mapped through the student's
    tokenizer, and a string it does not know becomes a padding slot.
    """

    size = len(tokenizer)

    def to_id(token: str, given: int | None) -> int | None:
        # An id past the student's vocabulary (a server with another tokenizer) cannot be
        # trained on: the answer is counted as unaligned, the alternative skipped.
        if given is not None:
            return given if 0 <= given < size else None
        found = tokenizer.convert_tokens_to_ids(token)
        return None if found is None or found == tokenizer.unk_token_id else int(found)

    def convert(gen: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        if not gen.logprobs:
            return None
        n = len(gen.logprobs)
        chosen = np.zeros(n, dtype=np.int32)
        ids = np.zeros((n, k), dtype=np.int32)
        lps = np.full((n, k), -np.inf, dtype=np.float32)
        for t, pos in enumerate(gen.logprobs):
            token = to_id(pos.token, pos.token_id)
            if token is None:
                return None  # the answer cannot be aligned token by token
            chosen[t] = token
            given = pos.top_ids or (None,) * len(pos.top_tokens)
            slot = 0
            for tok, tid, lp in zip(pos.top_tokens, given, pos.top_logprobs):
                mapped = to_id(tok, tid)
                if mapped is not None and slot < k:
                    ids[t, slot], lps[t, slot] = mapped, lp
                    slot += 1
        return chosen, ids, lps

    return convert
