"""Loading from artifacts, metadata, errors, and use in vector stores, retrievers and chains."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.messages import ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.vectorstores import InMemoryVectorStore
from pydantic import ValidationError

from langchain_ragdistill import (
    ChatRagdistill,
    RagdistillEmbeddings,
    RagdistillQueryExpander,
    RagdistillQueryRewriter,
    RagdistillRerank,
)
from ragdistill.errors import ConfigError

ADAPTERS = {
    "embedder": RagdistillEmbeddings,
    "reranker": RagdistillRerank,
    "query_transformer": RagdistillQueryRewriter,
    "generator": ChatRagdistill,
}
DOCS = [
    "The capital of France is Paris.",
    "Rivers flow from the mountains to the sea.",
    "Distillation trains a small model to imitate a large one.",
]


@pytest.mark.parametrize("stage", list(ADAPTERS))
def test_from_pretrained_exposes_the_manifest(tiny_artifacts: dict[str, Path], stage: str) -> None:
    adapter = ADAPTERS[stage].from_pretrained(tiny_artifacts[stage])
    assert adapter.model == str(tiny_artifacts[stage])
    assert adapter.manifest is not None and adapter.manifest["stage"] == stage
    info = adapter.describe()
    assert info["teacher"]["name"] == "tiny-teacher" and info["metrics"]["ndcg@10"] == 0.5


def test_model_keyword_loads_like_from_pretrained(tiny_artifacts: dict[str, Path]) -> None:
    expander = RagdistillQueryExpander(
        model=str(tiny_artifacts["query_transformer"]), num_queries=2
    )
    assert expander.manifest is not None and 1 <= len(expander.invoke("paris france")) <= 2


def test_an_artifact_of_another_stage_is_refused(tiny_artifacts: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="holds a reranker, not an embedder"):
        RagdistillEmbeddings.from_pretrained(tiny_artifacts["reranker"])


@pytest.mark.parametrize("stage", list(ADAPTERS))
def test_a_component_of_another_stage_is_refused(
    overlap_reranker: Any, hashing_embedder: Any, stage: str
) -> None:
    wrong = hashing_embedder if stage == "reranker" else overlap_reranker
    with pytest.raises(TypeError, match="must be a ragdistill"):
        ADAPTERS[stage](component=wrong)


def test_needs_a_component_or_a_model() -> None:
    with pytest.raises(ValidationError, match=r"component= .* or model="):
        RagdistillEmbeddings()


def test_hand_built_components_are_named_by_class(hashing_embedder: Any) -> None:
    embeddings = RagdistillEmbeddings(component=hashing_embedder)
    assert embeddings.model == "HashingEmbedder" and embeddings.manifest is None


def test_vector_store_and_compression_retriever(
    hashing_embedder: Any, overlap_reranker: Any
) -> None:
    compression = pytest.importorskip("langchain_classic.retrievers.contextual_compression")
    store = InMemoryVectorStore.from_texts(DOCS, RagdistillEmbeddings(component=hashing_embedder))
    retriever = compression.ContextualCompressionRetriever(
        base_compressor=RagdistillRerank(component=overlap_reranker, top_n=1),
        base_retriever=store.as_retriever(search_kwargs={"k": 3}),
    )
    [best] = retriever.invoke("What is the capital of France?")
    assert best.page_content == DOCS[0] and best.metadata["relevance_score"] > 0


def test_langchain_chroma_store(hashing_embedder: Any) -> None:
    chroma = pytest.importorskip("langchain_chroma")
    store = chroma.Chroma(
        collection_name=f"lc-{uuid.uuid4().hex[:10]}",
        embedding_function=RagdistillEmbeddings(component=hashing_embedder),
    )
    try:
        store.add_documents([Document(page_content=t) for t in DOCS])
        assert store.similarity_search("capital of France", k=1)[0].page_content == DOCS[0]
    finally:
        store.delete_collection()


def test_rewriter_then_retriever(hashing_embedder: Any, rule_query_transformer: Any) -> None:
    store = InMemoryVectorStore.from_texts(DOCS, RagdistillEmbeddings(component=hashing_embedder))
    chain = RagdistillQueryRewriter(component=rule_query_transformer) | store.as_retriever(
        search_kwargs={"k": 1}
    )
    history = [("human", "Tell me about France and Paris"), ("ai", "It is a country.")]
    [doc] = chain.invoke({"question": "What is its capital?", "chat_history": history})
    assert doc.page_content == DOCS[0]


def test_expander_include_original(rule_query_transformer: Any) -> None:
    expander = RagdistillQueryExpander(
        component=rule_query_transformer, num_queries=2, include_original=True
    )
    out = expander.invoke("capital of France")
    assert out[0] == "capital of France" and len(out) == 3


def test_rag_chain(hashing_embedder: Any, echo_generator: Any) -> None:
    store = InMemoryVectorStore.from_texts(DOCS, RagdistillEmbeddings(component=hashing_embedder))
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Context: {context}"), ("human", "{question}")]
    )
    chain = prompt | ChatRagdistill(component=echo_generator) | StrOutputParser()
    question = "capital of France?"
    context = store.similarity_search(question, k=1)[0].page_content
    assert chain.invoke({"context": context, "question": question}) == "echo: capital of France?"
    assert (
        "".join(chain.stream({"context": context, "question": question}))
        == "echo: capital of France?"
    )


def test_chat_usage_limits_and_errors(echo_generator: Any) -> None:
    chat = ChatRagdistill(component=echo_generator, max_tokens=3)
    reply = chat.invoke("one two three four")
    assert reply.content == "echo: one two"
    assert reply.usage_metadata == {"input_tokens": 4, "output_tokens": 3, "total_tokens": 7}
    assert chat.invoke("one two three", max_tokens=2).content == "echo: one"
    assert chat.bind(stop=["two"]).invoke("one two three").content == "echo: one "
    with pytest.raises(TypeError, match="tools"):
        chat.invoke("hi", tools=[])
    with pytest.raises(ValueError, match="ToolMessage"):
        chat.invoke([ToolMessage(content="{}", tool_call_id="1")])


def test_streaming_flag_streams_through_invoke(echo_generator: Any) -> None:
    from langchain_core.callbacks import BaseCallbackHandler

    tokens: list[str] = []

    class Collect(BaseCallbackHandler):
        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            tokens.append(token)

    chat = ChatRagdistill(component=echo_generator, streaming=True, callbacks=[Collect()])
    assert chat.invoke("a b c").content == "echo: a b c"
    assert "".join(tokens) == "echo: a b c" and len(tokens) > 1


@pytest.mark.slow
def test_loads_a_model_ragdistill_resolves_by_name() -> None:
    embeddings = RagdistillEmbeddings(model="all-MiniLM-L6-v2")
    assert len(embeddings.embed_query("What does distillation do?")) == 384


def test_from_artifact_loads_through_a_registered_runtime(
    tiny_artifacts: dict[str, Path], recording_runtime: Any
) -> None:
    embeddings = RagdistillEmbeddings.from_artifact(
        tiny_artifacts["embedder"], runtime="recording", runtime_options={"tag": "lc"}
    )
    assert recording_runtime.calls == [(tiny_artifacts["embedder"], "embedder", "lc", {})]
    assert embeddings.runtime == "recording" and len(embeddings.embed_query("paris")) > 0
    # model= with runtime= loads through it as well, and an instance is accepted.
    runtime = recording_runtime.from_options({"tag": "field"})
    rerank = RagdistillRerank(model=str(tiny_artifacts["reranker"]), runtime=runtime)
    assert recording_runtime.calls[-1][1:3] == ("reranker", "field")
    assert rerank.manifest is not None and "runtime" not in rerank.model_dump()
