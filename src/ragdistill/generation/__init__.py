"""Distilling any stage whose teacher writes text (answers, rewritten queries).

What the generator and query-transformer stages share, below both: the kill-safe store of
a teacher's generations (:mod:`.store`), asking a teacher for what it lacks
(:mod:`.asking`), the teacher's log-probs in the student's vocabulary
(:mod:`.logprobs`), training rows and batches (:mod:`.rows`), the tokenizer checks of
token-level KD (:mod:`.tokenizers`) and the causal-LM student (:mod:`.causal_lm`). The
losses are in :mod:`ragdistill.losses.text`.
"""
