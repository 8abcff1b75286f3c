"""What the router tests share: the tiny spec's two pipelines, and treatment pipelines
whose generator is slow or fails (real Generator subclasses, registered nowhere)."""

from __future__ import annotations

import time
from typing import Any

from ragdistill.contracts import Generation, GenerationRequest, Generator
from ragdistill.datasets import RetrievalDataset
from ragdistill.rag.components import Built, ComponentPool
from ragdistill.rag.pipeline import Corpus, RagPipeline, build_pipeline
from ragdistill.rag.spec import ComponentSpec, parse_spec


class FailingGenerator(Generator):
    """A generator whose backend is down: every call raises."""

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        raise RuntimeError("generator backend unavailable")


class SlowGenerator(Generator):
    """A real generator behind ``delay_s`` of latency (a loaded server)."""

    def __init__(self, inner: Built, delay_s: float) -> None:
        self.inner, self.delay_s = inner, delay_s

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        time.sleep(self.delay_s)
        generator = self.inner.component
        assert isinstance(generator, Generator)
        with self.inner.lock:  # the wrapped model may be in use by its own pipeline
            return generator.generate_batch(requests)


def pipelines(
    spec_data: dict[str, Any], dataset: RetrievalDataset
) -> tuple[RagPipeline, RagPipeline]:
    """The control ("teacher") and treatment ("student") of the tiny two-arm spec."""
    spec = parse_spec({**spec_data, "ablate": False})
    corpus = Corpus.from_dataset(dataset)
    pool = ComponentPool()
    control = build_pipeline(spec, "teacher", corpus, pool=pool)
    treatment = build_pipeline(spec, "student", corpus, pool=pool)
    return control, treatment


def with_generator(pipe: RagPipeline, generator: Generator, name: str) -> RagPipeline:
    """``pipe`` with its generator swapped for ``generator``, as arm ``name``."""
    built = Built(generator, ComponentSpec(kind=f"test-{name}", model=name))
    return RagPipeline({**pipe.stages, Generator.stage: built}, pipe.index, pipe.corpus,
                       k=pipe.k, contexts=pipe.n_contexts, max_new_tokens=pipe.max_new_tokens,
                       prompt=pipe.prompt, name=name)  # fmt: skip


def slow(pipe: RagPipeline, delay_s: float, name: str = "slow") -> RagPipeline:
    return with_generator(pipe, SlowGenerator(pipe.stages[Generator.stage], delay_s), name)


def failing(pipe: RagPipeline, name: str = "broken") -> RagPipeline:
    return with_generator(pipe, FailingGenerator(), name)
