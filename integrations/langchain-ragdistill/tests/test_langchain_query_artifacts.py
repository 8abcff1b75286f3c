"""Distilled query-transformer artifacts (rewrite, expand, HyDE) loaded with from_artifact."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.vectorstores import InMemoryVectorStore
from pydantic import ValidationError

from langchain_ragdistill import (
    RagdistillEmbeddings,
    RagdistillHyDE,
    RagdistillQueryExpander,
    RagdistillQueryRewriter,
)

QUERY = "What is the capital of France?"
EXPANDERS = ["expand", "seq2seq-expand"]
DOCS = [
    "The capital of France is Paris.",
    "Rivers flow from the mountains to the sea.",
    "Distillation trains a small model to imitate a large one.",
]


@pytest.fixture
def embeddings(tiny_embedder: Any) -> RagdistillEmbeddings:
    return RagdistillEmbeddings(component=tiny_embedder)


@pytest.fixture
def store(embeddings: RagdistillEmbeddings) -> InMemoryVectorStore:
    return InMemoryVectorStore.from_texts(DOCS, embeddings)


def test_rewrite_gives_one_query(tiny_query_artifacts: dict[str, Path]) -> None:
    rewriter = RagdistillQueryRewriter.from_artifact(tiny_query_artifacts["rewrite"])
    assert rewriter.manifest is not None and rewriter.component.task == "rewrite"
    query = rewriter.invoke(QUERY)
    assert isinstance(query, str) and query.strip()
    assert rewriter.batch([QUERY, {"question": QUERY}]) == [query, query]


@pytest.mark.parametrize("name", EXPANDERS)
def test_expand_gives_up_to_three_distinct_queries(
    tiny_query_artifacts: dict[str, Path], name: str
) -> None:
    expander = RagdistillQueryExpander.from_artifact(tiny_query_artifacts[name], num_queries=3)
    assert expander.component.task == "expand" and expander.component.num_queries == 3
    queries = expander.invoke(QUERY)
    assert 1 <= len(queries) <= 3 and len(set(queries)) == len(queries)
    assert all(isinstance(q, str) and q.strip() for q in queries)


@pytest.mark.parametrize("name", EXPANDERS)
def test_expander_in_multi_query_retriever(
    tiny_query_artifacts: dict[str, Path],
    store: InMemoryVectorStore,
    tiny_embedder: Any,
    spy: Any,
    name: str,
) -> None:
    multi_query = pytest.importorskip("langchain_classic.retrievers.multi_query")
    expander = RagdistillQueryExpander.from_artifact(tiny_query_artifacts[name], num_queries=3)
    expansion = expander.invoke(QUERY)
    model_calls = spy(expander.component, "transform_batch")
    embedded = spy(tiny_embedder, "embed_batch")
    retriever = multi_query.MultiQueryRetriever(
        retriever=store.as_retriever(search_kwargs={"k": 1}),
        llm_chain=expander,
        include_original=True,
    )
    docs = retriever.invoke(QUERY)
    assert 1 <= len(docs) <= len(DOCS) and all(d.page_content in DOCS for d in docs)
    assert len(model_calls) == 1
    searched = [t for args, kw in embedded if kw.get("input_type") == "query" for t in args[0]]
    assert searched == [*expansion, QUERY]
    adocs = asyncio.run(retriever.ainvoke(QUERY))
    assert len(model_calls) == 2
    assert sorted(d.page_content for d in adocs) == sorted(d.page_content for d in docs)


def test_expander_in_an_lcel_chain(
    tiny_query_artifacts: dict[str, Path], store: InMemoryVectorStore
) -> None:
    """Without langchain-classic: ``expander | retriever.map()``, one list per query."""
    expander = RagdistillQueryExpander.from_artifact(tiny_query_artifacts["expand"])
    chain = expander | store.as_retriever(search_kwargs={"k": 1}).map()
    per_query = chain.invoke(QUERY)
    assert len(per_query) == len(expander.invoke(QUERY))
    assert all(len(docs) == 1 and docs[0].page_content in DOCS for docs in per_query)


def test_hyde_writes_the_passage_to_embed(tiny_query_artifacts: dict[str, Path]) -> None:
    hyde = RagdistillHyDE.from_artifact(tiny_query_artifacts["hyde"])
    passage = hyde.invoke(QUERY)
    assert isinstance(passage, str) and passage.strip()
    assert hyde.invoke({"question": QUERY}) == passage
    assert hyde.input_schema.model_json_schema()["required"] == ["question"]


def test_hyde_feeds_an_embeddings_model(
    tiny_query_artifacts: dict[str, Path], embeddings: RagdistillEmbeddings
) -> None:
    hyde_chain = pytest.importorskip("langchain_classic.chains.hyde.base")
    hyde = RagdistillHyDE.from_artifact(tiny_query_artifacts["hyde"])
    passage = hyde.invoke(QUERY)
    hyde_embeddings = hyde_chain.HypotheticalDocumentEmbedder(
        llm_chain=hyde, base_embeddings=embeddings
    )
    vector = hyde_embeddings.embed_query(QUERY)
    # The passage is embedded as a document, in place of the query.
    np.testing.assert_allclose(vector, embeddings.embed_documents([passage])[0], rtol=1e-5)
    assert not np.allclose(vector, embeddings.embed_query(QUERY))
    store = InMemoryVectorStore.from_texts(DOCS, hyde_embeddings)
    [doc] = store.similarity_search(QUERY, k=1)
    assert doc.page_content in DOCS


def test_hyde_refuses_a_transformer_of_another_task(tiny_query_artifacts: dict[str, Path]) -> None:
    with pytest.raises(ValidationError, match=r"task='hyde'.*got task='rewrite'"):
        RagdistillHyDE.from_artifact(tiny_query_artifacts["rewrite"])
