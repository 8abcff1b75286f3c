"""Components that load their models from several threads at once (the router's shadow
arm, A/B arms served side by side) still get every weight.

transformers' ``from_pretrained`` turns weight tying off by swapping a class attribute for
the length of a load; two overlapping loads can restore it in the wrong order and leave
tying off for the whole process (huggingface/transformers#44940). ragdistill holds one
lock around every model load (:data:`ragdistill.hf._loading.MODEL_LOAD_LOCK`).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ragdistill import hf
from ragdistill.errors import RagdistillError
from ragdistill.hf._loading import load_pretrained

transformers = pytest.importorskip("transformers")


@pytest.fixture
def tie_weights_restored() -> Iterator[Any]:
    """The real ``PreTrainedModel.tie_weights``, put back after the test whatever happens,
    so that a failure here cannot break every later test's tied models."""
    original = transformers.PreTrainedModel.tie_weights
    yield original
    transformers.PreTrainedModel.tie_weights = original


def test_components_loading_in_many_threads_keep_their_tied_weights(
    tiny_seq2seq_path: Path, tie_weights_restored: Any
) -> None:
    components = [
        hf.Seq2SeqQueryTransformer(str(tiny_seq2seq_path), max_new_tokens=4, num_beams=1)
        for _ in range(16)
    ]
    with ThreadPoolExecutor(4) as pool:
        rewrites = list(pool.map(lambda c: c.transform("where is paris?"), components))

    assert all(len(r) == 1 for r in rewrites)
    assert transformers.PreTrainedModel.tie_weights is tie_weights_restored
    for component in components:
        model = component._loaded.get()[0]
        assert model.lm_head.weight is model.shared.weight
        assert not any(p.is_meta for p in model.parameters())


def test_a_model_left_on_the_meta_device_is_one_clear_error(
    tiny_seq2seq_path: Path, tie_weights_restored: Any
) -> None:
    # What a load racing with one outside ragdistill leaves: tying switched off.
    transformers.PreTrainedModel.tie_weights = lambda *args, **kwargs: None
    with pytest.raises(RagdistillError, match=r"seq2seq model .*3 weights never filled in.*thread"):
        load_pretrained(
            transformers.AutoModelForSeq2SeqLM, str(tiny_seq2seq_path), what="seq2seq model"
        )
