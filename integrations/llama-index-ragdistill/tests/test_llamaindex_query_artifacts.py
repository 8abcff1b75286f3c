"""Distilled query-transformer artifacts (rewrite, expand, HyDE) loaded with from_artifact."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.query_engine import TransformQueryEngine

from llama_index_ragdistill import (
    RagdistillEmbedding,
    RagdistillFusionRetriever,
    RagdistillLLM,
    RagdistillQueryTransform,
    RagdistillRerank,
)
from llama_index_ragdistill.testing import TEXTS, KeywordRetriever

QUERY = "What is the capital of France?"
EXPANDERS = ["expand", "seq2seq-expand"]


@pytest.fixture(scope="module")
def transforms(tiny_query_artifacts: dict[str, Path]) -> dict[str, RagdistillQueryTransform]:
    return {
        name: RagdistillQueryTransform.from_artifact(path)
        for name, path in tiny_query_artifacts.items()
    }


def test_the_manifest_fixes_the_task(transforms: dict[str, RagdistillQueryTransform]) -> None:
    for name, transform in transforms.items():
        task = name.removeprefix("seq2seq-")
        assert transform.manifest is not None and transform.manifest["stage"] == "query_transformer"
        assert getattr(transform.component, "task", None) == task
        assert transform.is_hyde == (task == "hyde")
    assert getattr(transforms["expand"].component, "num_queries", None) == 3


def test_rewrite_gives_one_query(transforms: dict[str, RagdistillQueryTransform]) -> None:
    bundle = transforms["rewrite"].run(QUERY)
    assert isinstance(bundle.query_str, str) and bundle.query_str.strip()
    assert bundle.embedding_strs == [bundle.query_str]


@pytest.mark.parametrize("name", EXPANDERS)
def test_expand_gives_up_to_three_distinct_queries(
    transforms: dict[str, RagdistillQueryTransform], name: str
) -> None:
    transform = transforms[name]
    raw = transform.component.expand(QUERY, 3)
    assert 1 <= len(raw) <= 3 and len(set(raw)) == len(raw)
    queries = transform.expand(QUERY, 3)  # what the fusion retriever searches with
    assert len(queries) <= 3 and all(isinstance(q, str) and q.strip() for q in queries)
    assert QUERY not in queries and len(set(queries)) == len(queries)


@pytest.mark.parametrize("name", EXPANDERS)
def test_fusion_retriever_searches_with_the_expansion(
    transforms: dict[str, RagdistillQueryTransform], spy: Any, name: str
) -> None:
    transform = transforms[name]
    expansion = transform.expand(QUERY, 3)
    model_calls = spy(transform.component, "transform_batch")
    keyword = KeywordRetriever(TEXTS)
    searched = spy(keyword, "_retrieve")
    retriever = RagdistillFusionRetriever(
        [keyword], transform, num_queries=4, mode="reciprocal_rerank", use_async=False
    )
    nodes = retriever.retrieve(QUERY)
    assert 0 < len(nodes) <= len(TEXTS)
    assert len(model_calls) == 1
    [request] = model_calls[0][0][0]
    assert request.query == QUERY
    assert [args[0].query_str for args, _ in searched] == [QUERY, *expansion]
    anodes = asyncio.run(retriever.aretrieve(QUERY))
    assert len(model_calls) == 2
    assert [n.node.node_id for n in anodes] == [n.node.node_id for n in nodes]


def test_hyde_embeds_the_passage_and_keeps_the_query(
    transforms: dict[str, RagdistillQueryTransform],
) -> None:
    hyde = transforms["hyde"]
    passage = hyde.component.rewrite(QUERY)
    assert passage.strip()
    bundle = hyde.run(QUERY)
    assert bundle.query_str == QUERY
    assert bundle.custom_embedding_strs == [passage, QUERY]  # averaged, as HyDEQueryTransform
    alone = RagdistillQueryTransform(hyde.component, include_original=False).run(QUERY)
    assert alone.query_str == QUERY and alone.embedding_strs == [passage]


def test_hyde_in_a_query_engine(
    transforms: dict[str, RagdistillQueryTransform],
    spy: Any,
    hashing_embedder: Any,
    overlap_reranker: Any,
    echo_generator: Any,
) -> None:
    """The passage is embedded; the reranker and the LLM get the user's query."""
    hyde = transforms["hyde"]
    passage = hyde.component.rewrite(QUERY)
    index = VectorStoreIndex.from_documents(
        [Document(text=t) for t in TEXTS], embed_model=RagdistillEmbedding(hashing_embedder)
    )
    embedded = spy(hashing_embedder, "embed_batch")
    scored = spy(overlap_reranker, "score")
    generated = spy(echo_generator, "generate_batch")
    engine = TransformQueryEngine(
        index.as_query_engine(
            llm=RagdistillLLM(echo_generator),
            similarity_top_k=3,
            node_postprocessors=[RagdistillRerank(overlap_reranker, top_n=1)],
        ),
        hyde,
    )
    response = engine.query(QUERY)
    assert len(response.source_nodes) == 1
    assert [args[0] for args, kw in embedded if kw.get("input_type") == "query"] == [
        [passage],
        [QUERY],
    ]
    assert [args[0] for args, _ in scored] == [QUERY]
    prompts = [m.content for args, _ in generated for req in args[0] for m in req.messages]
    assert any(QUERY in p for p in prompts) and not any(passage in p for p in prompts)
