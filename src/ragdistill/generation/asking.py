"""Asking a teacher generator for what its store lacks, in batches, kill-safe."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragdistill.contracts import GenerationRequest, Generator
from ragdistill.generation.store import GenerationStore, Labelled
from ragdistill.teacher_cache import FillStats, content_key, fingerprint


def request_key(req: Any) -> str:
    """The store key of a request: its messages and every parameter that changes output."""
    parts = [f"{m.role}\x00{m.content}" for m in req.messages]
    params = f"{req.max_new_tokens}|{req.temperature}|{'|'.join(req.stop)}|{req.top_logprobs}"
    return content_key(params, *parts)


def ask(
    generator: Generator,
    requests: list[GenerationRequest],
    store: GenerationStore,
    *,
    convert: Callable[[Any], tuple[Any, Any, Any] | None] | None = None,
    show_progress: bool,
    desc: str,
) -> tuple[list[str], FillStats]:
    """Ask ``generator`` what ``store`` does not hold yet, in batches; return every
    request's key and the counts. ``convert(gen)`` gives the log-prob arrays to keep."""

    def records(idx: list[int]) -> list[Labelled]:
        out = []
        for gen in generator.generate_many([requests[i] for i in idx]):
            arrays = convert(gen) if convert is not None else None
            out.append(Labelled(gen.text, gen.finish_reason, *(arrays or ())))
        return out

    keys = [request_key(r) for r in requests]
    stats = store.fill(keys, records, batch_size=generator.batch_size,
                       show_progress=show_progress, desc=desc)  # fmt: skip
    return keys, stats


def arm_store(arm: Generator, root: Path) -> GenerationStore:
    """A store for ``arm``'s answers, keyed by its description and its model's files."""
    description = arm.describe()
    folder = getattr(arm, "model", None)
    files: list[Any] = []
    if isinstance(folder, str) and Path(folder).is_dir():
        # A retrained artifact keeps its path: its files' sizes and times tell it apart.
        files = [(p.name, p.stat().st_size, p.stat().st_mtime_ns)
                 for p in sorted(Path(folder).iterdir()) if p.is_file()]  # fmt: skip
    ident = fingerprint({"arm": description, "files": files})
    return GenerationStore.open(ident, root=root, description=description)
