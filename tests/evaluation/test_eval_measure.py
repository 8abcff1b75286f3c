"""Latency percentiles, throughput, model size and peak memory."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ragdistill.contracts import Embedder, FloatArray, InputType
from ragdistill.evaluation.measure import (
    encode_throughput,
    folder_size_bytes,
    interleaved_rounds,
    latency_stats,
    parameter_count,
    peak_memory_during,
)


class ConstantEmbedder(Embedder):
    def __init__(self, dim: int = 8) -> None:
        self.dim = dim

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        return np.ones((len(texts), self.dim), dtype=np.float32)

    def parameter_count(self) -> int:
        return self.dim * 10


def test_latency_percentiles_in_milliseconds() -> None:
    stats = latency_stats([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert stats.p50_ms == pytest.approx(50.5)
    assert stats.p95_ms == pytest.approx(95.05)
    assert stats.mean_ms == pytest.approx(50.5)
    assert stats.n == 100
    assert latency_stats([]).n == 0


def test_throughput_and_parameters() -> None:
    embedder = ConstantEmbedder()
    assert encode_throughput(embedder, ["a"] * 100, batch_size=10) > 0
    assert parameter_count(embedder) == 80
    with pytest.raises(ValueError, match="at least one text"):
        encode_throughput(embedder, [])


class SlowFirstPassEmbedder(ConstantEmbedder):
    """The first (non-warm-up) pass is held up, as by another job on the machine."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        self.calls += 1
        if self.calls == 2:  # call 1 is the warm-up
            time.sleep(0.5)
        return super().embed_batch(texts, input_type=input_type)


def test_throughput_counts_the_fastest_pass() -> None:
    once = encode_throughput(SlowFirstPassEmbedder(), ["a"] * 10, batch_size=10)
    best = encode_throughput(SlowFirstPassEmbedder(), ["a"] * 10, batch_size=10, repeats=3)
    assert once < 25 < best  # 10 texts took >= 0.5 s once; a clean pass is far faster
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        encode_throughput(ConstantEmbedder(), ["a"], repeats=0)


def test_folder_size(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.bin").write_bytes(b"x" * 100)
    (tmp_path / "sub" / "b.json").write_bytes(b"y" * 23)
    assert folder_size_bytes(tmp_path) == 123
    assert folder_size_bytes(tmp_path / "missing") is None
    assert folder_size_bytes(None) is None


def test_peak_memory_sees_a_transient_allocation() -> None:
    def allocate() -> int:
        block = np.ones(40 * 1024 * 1024 // 8)  # 40 MB, touched, then freed
        return int(block.size)

    result, peak = peak_memory_during(allocate)
    assert result == 40 * 1024 * 1024 // 8
    if peak is None:
        pytest.skip("no way to read peak memory here (not Linux, no psutil)")
    assert peak >= 30 * 1024 * 1024


def test_interleaved_rounds_visit_every_measure_each_round_from_a_new_start() -> None:
    calls: list[str] = []

    def measure(name: str) -> Callable[[], float]:
        def run() -> float:
            calls.append(name)
            return float(len(calls))

        return run

    values = interleaved_rounds({n: measure(n) for n in "abc"}, rounds=4)
    # Each round runs every measure once, starting one later than the round before.
    assert calls == list("abcbcacababc")
    assert list(values) == list("abc")
    assert values["a"] == [1.0, 6.0, 8.0, 10.0]
    assert all(len(v) == 4 for v in values.values())
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        interleaved_rounds({"a": measure("a")}, rounds=0)
    assert interleaved_rounds({}, rounds=2) == {}
