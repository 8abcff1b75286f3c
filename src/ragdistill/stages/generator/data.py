"""Generation examples from a retrieval dataset: held-out questions, retrieved contexts.

Evaluated questions are the dataset's judged ones (up to ``evaluate.max_queries``, a
seeded sample). Training questions are the others, minus any whose source documents
share a *group* (a document's title: a SQuAD article) with an evaluated question's, so
the student is never trained on the articles it is tested on.

Contexts come from a first-stage retriever (Chroma over the whole corpus); with
``gold = "include"`` the question's source passage is placed among the retrieved ones
at a seeded random rank. The retrieved lists are saved beside the run
(``contexts.json``, fingerprinted), so a rerun sees exactly the same prompts even
though approximate search is not bit-for-bit repeatable.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ragdistill.data.splits import group_of
from ragdistill.datasets import Passage, RetrievalDataset
from ragdistill.errors import ConfigError
from ragdistill.stages.generator.examples import Context, GenerationExample
from ragdistill.stages.generator.options import ContextsSpec


def retrieve_contexts(
    dataset: RetrievalDataset,
    embedder: Any,
    query_ids: Sequence[str],
    *,
    depth: int,
    index_dir: Path,
    saved: Path,
    show_progress: bool = True,
) -> dict[str, list[str]]:
    """The ``depth`` best passage ids per query (or the saved lists for these inputs)."""
    from ragdistill.index import ChromaIndex, embedder_fingerprint

    blob = json.dumps(
        [dataset.fingerprint(), embedder.describe(), list(query_ids), depth],
        sort_keys=True,
        default=str,
    )
    fp = hashlib.sha256(blob.encode()).hexdigest()[:16]
    if saved.is_file():
        found = json.loads(saved.read_text(encoding="utf-8"))
        if found.get("fingerprint") == fp:
            return {q: list(ids) for q, ids in found["lists"].items()}
    collection = f"contexts-{dataset.fingerprint()[:8]}-{embedder_fingerprint(embedder)[:16]}"
    index = ChromaIndex(
        embedder, collection=collection, path=index_dir, show_progress=show_progress
    )
    index.add(dataset.passages(), sync=True)
    texts = [dataset.queries[q] for q in query_ids]
    hits = index.search_passages(texts, depth) if texts else []
    lists = {q: [pid for pid, _ in row] for q, row in zip(query_ids, hits)}
    tmp = saved.with_suffix(".tmp")
    tmp.write_text(json.dumps({"fingerprint": fp, "lists": lists}), encoding="utf-8")
    tmp.replace(saved)
    return lists


def assemble(
    dataset: RetrievalDataset,
    query_ids: Sequence[str],
    retrieved: dict[str, list[str]],
    spec: ContextsSpec,
    *,
    salt: str,
) -> list[GenerationExample]:
    """One example per query: ``spec.k`` contexts, gold placed or withheld per ``spec``.

    ``salt`` separates the random draws of different splits (``"train"``, ``"eval"``);
    each query's draws depend only on the seed, the salt and the query id, so adding
    questions never changes another question's prompt.
    """
    passages = {p.id: p for p in dataset.passages()}
    by_doc: dict[str, list[Passage]] = {}
    for p in passages.values():
        by_doc.setdefault(p.doc_id, []).append(p)
    out = []
    for qid in query_ids:
        rng = random.Random(f"{spec.seed}:{salt}:{qid}")
        sources = dataset.source_documents(qid)
        ranked = [passages[p] for p in retrieved.get(qid, []) if p in passages]
        others = [p for p in ranked if p.doc_id not in sources]
        unanswerable = bool(sources) and rng.random() < spec.unanswerable
        answerable: bool | None
        if unanswerable:
            chosen, answerable = others[: spec.k], False
        elif spec.gold == "include" and sources:
            gold = _gold_passages(sources, ranked, by_doc)[: spec.k]
            chosen = others[: spec.k - len(gold)]
            for passage in gold:
                chosen.insert(rng.randint(0, len(chosen)), passage)
            answerable = True
        else:
            chosen = ranked[: spec.k]
            answerable = any(p.doc_id in sources for p in chosen) if sources else None
        if not chosen:
            continue
        answers = () if answerable is False else tuple(dataset.answers.get(qid, ()))
        out.append(
            GenerationExample(
                id=qid,
                question=dataset.queries[qid],
                contexts=tuple(_context(dataset, p, spec.max_chars) for p in chosen),
                answers=answers,
                answerable=answerable,
                group=group_of(dataset, sources[0]) if sources else "",
                sources=tuple(sources),
            )
        )
    return out


def _gold_passages(
    sources: list[str], ranked: list[Passage], by_doc: dict[str, list[Passage]]
) -> list[Passage]:
    """Per source document, its best-retrieved passage, else its first."""
    out = []
    for doc_id in sources:
        hit = next((p for p in ranked if p.doc_id == doc_id), None)
        out.append(hit or by_doc[doc_id][0])
    return out


def _context(dataset: RetrievalDataset, passage: Passage, max_chars: int | None) -> Context:
    doc = dataset.corpus[passage.doc_id]
    text = passage.text
    # Passages repeat their document's title as a first line; the prompt shows it apart.
    if doc.title and text.startswith(doc.title + "\n"):
        text = text[len(doc.title) + 1 :]
    return Context(text=cut(text, max_chars), title=doc.title, doc_id=doc.id)


def cut(text: str, max_chars: int | None) -> str:
    """``text`` cut to ``max_chars`` at a word boundary, marked with an ellipsis."""
    if max_chars is None or len(text) <= max_chars:
        return text
    space = text.rfind(" ", max_chars // 2, max_chars)
    return text[: space if space > 0 else max_chars].rstrip() + " ..."


def check_text(example: GenerationExample) -> None:
    """Refuse text that cannot be encoded (lone surrogates from a bad decode), by id."""
    for part in (example.question, *(c.text for c in example.contexts)):
        try:
            part.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ConfigError(
                f"example {example.id!r} holds text that is not valid UTF-8 ({exc.reason} at "
                f"{exc.start}); fix the dataset's encoding (read it as UTF-8) and rerun"
            ) from None
