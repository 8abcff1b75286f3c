"""A LangChain RAG app that runs on a teacher stack or its distilled students.

All four stages: a query rewriter turns the question into a search query, a Chroma
retriever finds candidates, a compression retriever reranks them and a chat chain
answers from the best. Which models do that is ONE line, ``COMPONENTS``:

    COMPONENTS = "teacher"            # the stack you distill from
    COMPONENTS = "student"            # small stand-ins, to compare speed
    COMPONENTS = "runs/my-rag"        # your distilled artifacts (embedder/, reranker/, ...)

Each stage's adapter is built one of two ways: ``from_artifact(folder or model name)``
loads an artifact ragdistill wrote or a packaged model, ``from_teacher(kind, model=...)``
builds a registered teacher kind on a model (a bi-encoder reranker on an embedder's
model, a query rewriter prompted on an LLM).

Run it by hand on the real offline models (pulled from PyPI wheels on first use)::

    python examples/langchain_app.py --models real
    python examples/langchain_app.py --components runs/my-rag

Needs: pip install langchain-ragdistill langchain-classic langchain-chroma
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
PROMPT = [
    ("system", "Answer the question in one sentence using only this context:\n{context}"),
    ("human", "{question}"),
]


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


def resolve_stack(components: str | Mapping[str, Any], models: str = "real") -> dict[str, Any]:
    """``components`` as {stage: source}: a keyword, a folder of per-stage artifacts, or a mapping."""
    if isinstance(components, Mapping):
        return dict(components)
    if components in ("teacher", "student"):
        if models != "real":
            raise ValueError(f"unknown --models {models!r}; use 'real' or pass a folder")
        return packaged_stack(**PACKAGED[components])
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
    return cls(component=source, **fields)


def build_chain(
    stack: Mapping[str, Any], *, top_k: int = 4, top_n: int = 2
) -> tuple[Any, Any, Any]:
    """A search chain (rewrite, then a reranking retriever over PASSAGES in a fresh Chroma
    collection) and an answer chain."""
    from langchain_chroma import Chroma
    from langchain_classic.retrievers.contextual_compression import ContextualCompressionRetriever
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough

    from langchain_ragdistill import (
        ChatRagdistill,
        RagdistillEmbeddings,
        RagdistillQueryRewriter,
        RagdistillRerank,
    )

    store = Chroma(
        collection_name=f"langchain-{uuid.uuid4().hex[:8]}",
        embedding_function=_adapter(RagdistillEmbeddings, stack["embedder"]),
    )
    store.add_texts(PASSAGES)
    retriever: Any = ContextualCompressionRetriever(
        base_compressor=_adapter(RagdistillRerank, stack["reranker"], top_n=top_n),
        base_retriever=store.as_retriever(search_kwargs={"k": top_k}),
    )
    rewrite: Any = RunnablePassthrough()  # no query transformer: search with the question
    if "query_transformer" in stack:
        rewrite = _adapter(RagdistillQueryRewriter, stack["query_transformer"])
    # question -> {"query": the rewritten question, "docs": the reranked passages}
    search = rewrite | {"query": RunnablePassthrough(), "docs": retriever}
    llm = _adapter(ChatRagdistill, stack["generator"], max_tokens=48)
    answer = ChatPromptTemplate.from_messages(PROMPT) | llm | StrOutputParser()
    return search, answer, store


def run(
    components: str | Mapping[str, Any], *, models: str = "real", questions: list[str] = QUESTIONS
) -> list[dict[str, Any]]:
    """Answer ``questions`` with the chosen stack; one record per question."""
    search, answer, store = build_chain(resolve_stack(components, models))
    results = []
    try:
        for question in questions:
            start = time.perf_counter()
            found = search.invoke(question)
            docs = found["docs"]
            context = "\n".join(d.page_content for d in docs)
            text = answer.invoke({"context": context, "question": question})
            results.append(
                {
                    "question": question,
                    "query": found["query"],
                    "answer": text.strip(),
                    "sources": [(d.page_content, d.metadata["relevance_score"]) for d in docs],
                    "seconds": time.perf_counter() - start,
                }
            )
    finally:
        store.delete_collection()
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
        print(f"\nQ: {r['question']}  ({r['seconds']:.2f}s)\n   search: {r['query']}")
        for text, score in r["sources"]:
            print(f"   [{score:+.3f}] {text}")
        print(f"A: {r['answer']}")
    return results


if __name__ == "__main__":
    main()
