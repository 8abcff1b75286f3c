"""Overhead of the LlamaIndex, LangChain and Chroma shims over calling the embedder directly.

Times ``Embedder.embed_many`` against each shim on the real offline all-MiniLM-L6-v2,
for one query and for a batch of 64 documents. The variants run interleaved (their
order rotates every repeat, so drift in machine load hits all alike) and each figure is
the median over repeats of the mean time per call, both wall-clock and process CPU
time: on a shared machine, CPU time does not count the waits for a core, so it is the
steadier measure of work added. A second table times the shims around an embedder
that does no work, which isolates their fixed cost per call in microseconds.
Prints markdown and writes it into BENCHMARKS.md between the ``integrations``
markers, keeping other sections.

    python benchmarks/bench_integrations.py [--repeats 30] [--threads 1] [--model all-MiniLM-L6-v2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ragdistill.contracts import Embedder, FloatArray, InputType

BUDGET = 0.05  # the bar: a shim adds at most 5% over the direct call
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from markdown_section import replace_section  # noqa: E402

WORDS = [
    "distillation",
    "teacher",
    "student",
    "retrieval",
    "passage",
    "query",
    "model",
    "vector",
    "index",
    "answer",
    "rerank",
    "embedding",
    "chroma",
    "document",
    "relevance",
    "generator",
    "batch",
    "latency",
    "memory",
    "context",
]


def texts(n: int, words: int = 40) -> list[str]:
    """Deterministic passages of ``words`` words (about MiniLM's typical input)."""
    return [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(words)) for i in range(n)]


def variants(component: Any) -> dict[str, dict[str, Callable[[], Any]]]:
    """{workload: {variant: a zero-argument call}}; "direct" is the baseline."""
    from langchain_ragdistill import RagdistillEmbeddings
    from llama_index_ragdistill import RagdistillEmbedding
    from ragdistill_chroma import RagdistillEmbeddingFunction

    li = RagdistillEmbedding(component)
    lc = RagdistillEmbeddings(component=component)
    ef = RagdistillEmbeddingFunction(component=component)
    query = "what does knowledge distillation do to a retrieval model?"
    batch = texts(64)
    return {
        "single query": {
            "direct": lambda: component.embed_many([query], input_type="query"),
            "LlamaIndex": lambda: li.get_query_embedding(query),
            "LangChain": lambda: lc.embed_query(query),
            "Chroma": lambda: ef.embed_query([query]),
        },
        "batch of 64": {
            "direct": lambda: component.embed_many(batch, input_type="document"),
            "LlamaIndex": lambda: li.get_text_embedding_batch(batch),
            "LangChain": lambda: lc.embed_documents(batch),
            "Chroma": lambda: ef(batch),
        },
    }


class NullEmbedder(Embedder):
    """Returns zeros at once: timing the shims around it leaves only their own cost."""

    def __init__(self, dimension: int = 384) -> None:
        self.dim = dimension

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        return np.zeros((len(texts), self.dim), dtype=np.float32)


Samples = dict[str, dict[str, list[float]]]  # variant -> {"wall": [...], "cpu": [...]}


def measure(calls: dict[str, Callable[[], Any]], repeats: int, inner: int) -> Samples:
    """Seconds per call for each variant, one sample per repeat, interleaved."""
    names = list(calls)
    for name in names:  # warm up: first calls pay for allocator and thread-pool start
        for _ in range(2):
            calls[name]()
    samples: Samples = {name: {"wall": [], "cpu": []} for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(inner):
                calls[name]()
            samples[name]["cpu"].append((time.process_time() - cpu) / inner)
            samples[name]["wall"].append((time.perf_counter() - wall) / inner)
    return samples


def table(results: dict[str, Samples], fixed: dict[str, Samples]) -> str:
    """One row per workload and variant: timings, overhead two ways, and the verdict."""
    lines = [
        "| workload | variant | wall ms/call | CPU ms/call | overhead of medians (CPU) "
        "| fixed cost | share of direct call | within 5% |",
        "|---|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for workload, samples in results.items():
        base = statistics.median(samples["direct"]["cpu"])
        null_base = statistics.median(fixed[workload]["direct"]["cpu"])
        for name, values in samples.items():
            wall, cpu = statistics.median(values["wall"]), statistics.median(values["cpu"])
            cells = f"{wall * 1e3:.2f} | {cpu * 1e3:.2f}"
            if name == "direct":
                lines.append(f"| {workload} | direct `embed_many` | {cells} | — | — | — | |")
                continue
            added = statistics.median(fixed[workload][name]["cpu"]) - null_base
            share = added / base
            ok = "yes" if share <= BUDGET else "**no**"
            lines.append(
                f"| {workload} | {name} | {cells} | {cpu / base - 1:+.1%} "
                f"| {added * 1e6:.0f} µs | {share:.2%} | {ok} |"
            )
    return "\n".join(lines)


def environment(model: str, repeats: int) -> str:
    import torch

    threads = torch.get_num_threads()
    return (
        f"`{model}` on CPU, torch {torch.__version__} with "
        f"{threads} thread{'' if threads == 1 else 's'}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; median of {repeats} interleaved repeats."
    )


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="all-MiniLM-L6-v2", help="an embedder ragdistill resolves"
    )
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1 by default: on a shared machine more threads spin and skew timings)",
    )
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)

    from ragdistill.loading import load_component

    component = load_component(args.model, stage="embedder")
    results = {
        workload: measure(calls, args.repeats, inner=10 if workload == "single query" else 1)
        for workload, calls in variants(component).items()
    }
    fixed = {
        workload: measure(calls, args.repeats, inner=200 if workload == "single query" else 20)
        for workload, calls in variants(NullEmbedder()).items()
    }
    body = "\n".join(
        [
            "`python benchmarks/bench_integrations.py` — " + environment(args.model, args.repeats),
            "The bar is 5% over calling the component directly. *Overhead of medians* is the",
            "shim's median CPU time over the direct call's; on a shared machine it moves by several",
            "percent either way between runs. *Fixed cost* is what the shim adds around an embedder",
            "that returns zeros at once (median CPU time), and *share* is that cost over the direct",
            "call on the real model: the steady estimate, which the verdict uses.",
            "",
            table(results, fixed),
        ]
    )
    print(body)
    if not args.no_write:
        replace_section(
            args.output, "integrations", "Integration shims: overhead over the component", body
        )
    return body


if __name__ == "__main__":
    main()
