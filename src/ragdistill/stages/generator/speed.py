"""How fast a generator answers, one request at a time as a live RAG service would.

Numbers are wall-clock on the current machine and process: compare arms measured in
the same run, never figures from different machines.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from ragdistill.contracts.generator import Generator
from ragdistill.contracts.messages import Generation, GenerationRequest
from ragdistill.evaluation.measure import folder_size_bytes, latency_stats, peak_memory_during

T = TypeVar("T")


@dataclass(frozen=True)
class SpeedStats:
    """Time to first token, decode rate, memory and size of one generator.

    ``tokens_per_s`` is the decode rate (tokens after the first, per second) and
    ``decode_ms_per_token`` its inverse; ``answer_p50_ms`` the median wall time of a
    whole answer (prefill and decoding). ``peak_memory_bytes`` is what the timed calls
    allocated: accelerator memory when the model sits on a CUDA device
    (``memory == "cuda"``), else the growth of the process's resident memory
    (``"rss"``); ``None`` when it could not be measured.
    """

    ttft_p50_ms: float
    ttft_p95_ms: float
    tokens_per_s: float
    decode_ms_per_token: float
    peak_memory_bytes: int | None
    parameters: int | None
    size_bytes: int | None
    n: int
    answer_p50_ms: float = math.nan
    memory: str = "rss"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpeedStats:
        return cls(**data)


def measure_speed(
    generator: Generator,
    requests: Sequence[GenerationRequest],
    *,
    max_new_tokens: int,
    warmup: int = 1,
    size_path: Path | str | None = None,
) -> SpeedStats:
    """Time ``generator`` on ``requests``, one request per call, in order.

    Each request runs twice. First with ``max_new_tokens=1``: its wall time (prefill
    plus one token) is the time to first token. Streaming would time the first piece
    instead, but :meth:`Generator.stream` may yield whole words or, by default, the
    whole text at once, and a streamer's thread hand-off adds its own delay; a
    one-token generation measures the same work through the one call every generator
    implements. Then with ``max_new_tokens``: the decode rate is the sum over requests
    of (completion tokens - 1) over the sum of (full time - time to first token).
    Completion tokens are ``Generation.usage["completion_tokens"]`` where the generator
    reports them, else the answer's whitespace words (no tokenizer needed; words
    undercount subword tokens, so such a rate is only comparable between arms counted
    the same way).

    The first ``warmup`` requests run once untimed first, so lazy loading and kernel
    compilation do not land in the numbers. ``parameters`` counts the weights of
    ``generator.lm.model`` where the generator has one (``CausalLMGenerator`` does);
    ``size_bytes`` is the size of the folder ``size_path``.
    """
    items = list(requests)
    if not items:
        raise ValueError("measure_speed needs at least one request")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    for req in items[:warmup]:
        generator.generate_many([replace(req, max_new_tokens=max_new_tokens)])

    def run() -> tuple[list[float], list[float], list[int]]:
        firsts, fulls, tokens = [], [], []
        for req in items:
            firsts.append(_timed(generator, replace(req, max_new_tokens=1))[1])
            gen, seconds = _timed(generator, replace(req, max_new_tokens=max_new_tokens))
            fulls.append(seconds)
            tokens.append(_completion_tokens(gen))
        return firsts, fulls, tokens

    module = _model(generator)
    device = _cuda_device(module)
    peak: int | None
    if device is not None:
        (firsts, fulls, tokens), peak = _cuda_peak(run, device)
    else:
        (firsts, fulls, tokens), peak = peak_memory_during(run)
    decode_tokens = sum(max(0, t - 1) for t in tokens)
    decode_s = sum(max(0.0, full - first) for full, first in zip(fulls, firsts))
    rate = decode_tokens / decode_s if decode_tokens and decode_s > 0 else math.nan
    ttft = latency_stats(firsts)
    params = sum(int(p.numel()) for p in module.parameters()) if module is not None else None
    return SpeedStats(
        ttft_p50_ms=ttft.p50_ms,
        ttft_p95_ms=ttft.p95_ms,
        tokens_per_s=rate,
        decode_ms_per_token=1000.0 / rate if rate > 0 else math.nan,
        peak_memory_bytes=peak,
        parameters=params,
        size_bytes=folder_size_bytes(size_path),
        n=len(items),
        answer_p50_ms=latency_stats(fulls).p50_ms,
        memory="cuda" if device is not None else "rss",
    )


def _timed(generator: Generator, req: GenerationRequest) -> tuple[Generation, float]:
    start = time.perf_counter()
    gen = generator.generate_many([req])[0]
    return gen, time.perf_counter() - start


def _completion_tokens(gen: Generation) -> int:
    if "completion_tokens" in gen.usage:
        return int(gen.usage["completion_tokens"])
    return len(gen.text.split())


def _model(generator: Generator) -> Any:
    """``generator.lm.model`` when it is a torch module (has ``parameters``), else None."""
    model = getattr(getattr(generator, "lm", None), "model", None)
    return model if callable(getattr(model, "parameters", None)) else None


def _cuda_device(module: Any) -> Any:
    if module is None or "torch" not in sys.modules:
        return None
    first = next(iter(module.parameters()), None)
    device = getattr(first, "device", None)
    return device if getattr(device, "type", None) == "cuda" else None


def _cuda_peak(run: Callable[[], T], device: Any) -> tuple[T, int]:
    import torch

    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    result = run()
    torch.cuda.synchronize(device)
    return result, max(0, int(torch.cuda.max_memory_allocated(device)) - base)
