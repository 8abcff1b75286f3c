"""Efficiency measurements: query latency, encode throughput, model size, peak memory.

Numbers are wall-clock on the current machine and process; compare arms measured in
the same run, never figures from different machines.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ragdistill.contracts import Embedder, InputType

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class LatencyStats:
    """Percentiles of per-query latency, in milliseconds."""

    p50_ms: float
    p95_ms: float
    mean_ms: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def latency_stats(seconds: Sequence[float]) -> LatencyStats:
    """p50, p95 and mean of per-query latencies given in seconds."""
    values = np.asarray(seconds, dtype=np.float64) * 1000.0
    if values.size == 0:
        nan = float("nan")
        return LatencyStats(nan, nan, nan, 0)
    p50, p95 = np.percentile(values, [50, 95])
    return LatencyStats(float(p50), float(p95), float(values.mean()), int(values.size))


@dataclass
class TimedSearch:
    """Per-query results and latencies of :func:`timed_search`."""

    results: list[list[tuple[str, float]]]
    encode_s: list[float]
    search_s: list[float]

    @property
    def total_s(self) -> list[float]:
        return [e + s for e, s in zip(self.encode_s, self.search_s)]


def timed_search(index: Any, queries: Sequence[str], k: int, *, warmup: int = 2) -> TimedSearch:
    """Search one query at a time, as a live service would, timing each call.

    ``index`` is a :class:`ragdistill.index.ChromaIndex` (anything with ``search`` and
    ``last_timing``). The first ``warmup`` queries are run once untimed first, so lazy
    initialisation does not land in the percentiles.
    """
    for text in list(queries)[:warmup]:
        index.search([text], k)
    out = TimedSearch([], [], [])
    for text in queries:
        out.results.append(index.search([text], k)[0])
        out.encode_s.append(index.last_timing.encode_s)
        out.search_s.append(index.last_timing.search_s)
    return out


def encode_throughput(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    warmup: bool = True,
    input_type: InputType = "document",
    repeats: int = 1,
) -> float:
    """Texts per second embedding ``texts`` (as ``input_type``) in batches of ``batch_size``.

    With ``repeats`` > 1 the fastest of that many passes counts (as ``timeit`` does):
    other work on the machine only ever slows a pass down, so the best one is the
    least disturbed measure of the model itself.
    """
    items = list(texts)
    if not items:
        raise ValueError("encode_throughput needs at least one text")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup:
        embedder.embed_many(items[:batch_size], input_type=input_type, batch_size=batch_size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        embedder.embed_many(items, input_type=input_type, batch_size=batch_size)
        best = min(best, time.perf_counter() - start)
    return len(items) / max(best, 1e-9)


def interleaved_rounds(measures: Mapping[K, Callable[[], T]], rounds: int) -> dict[K, list[T]]:
    """Each measure, once per round, every round visiting all of them in turn.

    Timing one arm after another lets the machine's load drift between arms: on a
    shared CPU two arms of the same architecture measured minutes apart read 1.5x
    apart. Rounds spread every arm over the whole measuring window, and each round
    starts one arm later than the last (the cyclic order stays), so no arm is always
    the first one timed. Returns ``{name: [value per round]}`` in ``measures``' order:
    report the median, or compare two arms round by round.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    names = list(measures)
    out: dict[K, list[T]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            out[name].append(measures[name]())
    return out


def peak_memory_during(func: Callable[[], T]) -> tuple[T, int | None]:
    """Run ``func``; return its result and the peak resident-memory growth in bytes.

    On Linux the kernel's high-water mark is reset first (``/proc/self/clear_refs``),
    which costs nothing while ``func`` runs. Elsewhere psutil samples the RSS every
    5 ms (psutil is an optional dependency). ``None`` when neither is available. This
    measures what the call allocates (activations, buffers), not weights already loaded.

    Memory an earlier call freed is handed back to the system first (glibc's
    ``malloc_trim``): the allocator otherwise keeps those pages resident and reuses
    them, and a model that ran a bigger batch before would show almost no growth.
    """
    release_free_memory()
    if _reset_high_water_mark():
        base = _proc_status_kb("VmRSS")
        result = func()
        peak = _proc_status_kb("VmHWM")
        return result, max(0, (peak - base) * 1024)
    try:
        import psutil
    except ImportError:
        return func(), None
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.005):
            peak = max(peak, proc.memory_info().rss)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        result = func()
    finally:
        done.set()
        thread.join()
    peak = max(peak, proc.memory_info().rss)
    return result, max(0, peak - base)


def resident_bytes() -> int | None:
    """This process's resident memory now (Linux), or None where it cannot be read."""
    if not sys.platform.startswith("linux"):
        return None
    return _proc_status_kb("VmRSS") * 1024


def release_free_memory() -> bool:
    """Return the heap's free pages to the system (glibc only); whether it could."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # musl and other C libraries have no malloc_trim
        return False
    trim(0)
    return True


def _reset_high_water_mark() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _proc_status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        match = re.search(rf"^{field}:\s+(\d+)", fh.read(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def folder_size_bytes(path: Path | str | None) -> int | None:
    """Bytes of every file under ``path`` (a model folder); None if it is not a folder."""
    if path is None or not Path(path).is_dir():
        return None
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = Path(root, name)
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def weights_bytes(component: Any) -> int | None:
    """Bytes of the weights a component holds in memory (parameters and buffers of its
    torch module, or its ONNX graph file); None when it exposes neither.

    Exact where a peak-memory reading is not: it does not depend on what the process
    allocated before, so arms loaded in any order compare fairly.
    """
    method = getattr(component, "weights_bytes", None)
    if callable(method):
        value = method()
        return None if value is None else int(value)
    for attr in ("st_model", "model", "_model", "module"):
        module = getattr(component, attr, None)
        params, buffers = getattr(module, "parameters", None), getattr(module, "buffers", None)
        if callable(params) and callable(buffers):
            tensors = [*params(), *buffers()]
            return int(sum(t.numel() * t.element_size() for t in tensors))
    return None


def parameter_count(embedder: Embedder) -> int | None:
    """Number of weights, when the embedder exposes a torch module; else None.

    Uses a ``parameter_count()`` method if the embedder has one, else the
    ``parameters()`` of its ``st_model`` / ``model`` / ``_model`` / ``module`` attribute.
    """
    method = getattr(embedder, "parameter_count", None)
    if callable(method):
        return int(method())
    for attr in ("st_model", "model", "_model", "module"):
        module = getattr(embedder, attr, None)
        params = getattr(module, "parameters", None)
        if callable(params):
            return int(sum(p.numel() for p in params()))
    return None
