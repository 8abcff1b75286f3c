"""RagdistillQueryEngine / RagdistillRetriever on a spec of tiny real models: what the
offline A/B measures, the core pipeline, the engine and the router all answer alike."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from llama_index_ragdistill import (
    RagdistillLLM,
    RagdistillQueryBundle,
    RagdistillQueryEngine,
    RagdistillRetriever,
)
from ragdistill.contracts import Message
from ragdistill.rag import Corpus, PipelineAnswer, PipelineSpec, RagPipeline, build_pipeline
from ragdistill.rag.components import ComponentPool
from ragdistill.rag.offline import run_offline_ab
from ragdistill.rag.spec import parse_spec

ARMS = ("teacher", "student")
HISTORY = [
    ChatMessage(role="user", content="Tell me about France."),
    ChatMessage(role="assistant", content="France is a country in Europe."),
]
HISTORY_MESSAGES = (
    Message("user", "Tell me about France."),
    Message("assistant", "France is a country in Europe."),
)


@pytest.fixture(scope="module")
def spec(pipeline_spec: dict[str, Any]) -> PipelineSpec:
    return parse_spec(pipeline_spec)


@pytest.fixture(scope="module")
def corpus(pipeline_dataset: Any) -> Corpus:
    return Corpus.from_dataset(pipeline_dataset)


@pytest.fixture(scope="module")
def questions(pipeline_dataset: Any) -> list[str]:
    return list(pipeline_dataset.queries.values())[:3]


@pytest.fixture(scope="module")
def core(spec: PipelineSpec, corpus: Corpus) -> dict[str, RagPipeline]:
    """Each arm built by the core, on its own models."""
    pool = ComponentPool()
    return {arm: build_pipeline(spec, arm, corpus, pool=pool) for arm in ARMS}


@pytest.fixture(scope="module")
def engines(spec: PipelineSpec, corpus: Corpus) -> dict[str, RagdistillQueryEngine]:
    """Each arm built from the spec by the engine, on models loaded apart from ``core``'s."""
    pool = ComponentPool()
    return {arm: RagdistillQueryEngine.from_spec(spec, arm, corpus, pool=pool) for arm in ARMS}


def ids(nodes: list[NodeWithScore]) -> list[str]:
    return [n.node.node_id for n in nodes]


def assert_same(response: Any, expected: PipelineAnswer) -> None:
    assert response.response == expected.answer
    assert ids(response.source_nodes) == [c.id for c in expected.contexts]
    assert [n.score for n in response.source_nodes] == pytest.approx(
        [c.score for c in expected.contexts], abs=1e-6
    )
    assert response.metadata["queries"] == expected.queries
    assert set(response.metadata["seconds"]) == set(expected.seconds)


def test_the_engine_answers_what_the_offline_ab_measured(
    spec: PipelineSpec,
    pipeline_dataset: Any,
    engines: dict[str, RagdistillQueryEngine],
    tmp_path: Path,
) -> None:
    qids = list(pipeline_dataset.queries)[:3]
    run_offline_ab(spec, pipeline_dataset, qids, tmp_path, warmup=0, n_bootstrap=10,
                   show_progress=False)  # fmt: skip
    for arm in ARMS:
        rows = (tmp_path / "answers" / f"{arm}.jsonl").read_text().splitlines()[1:]
        measured = {r["qid"]: PipelineAnswer.from_dict(r["answer"]) for r in map(json.loads, rows)}
        for qid in qids:
            response = engines[arm].query(pipeline_dataset.queries[qid])
            assert_same(response, measured[qid])


@pytest.mark.parametrize("arm", ARMS)
async def test_sync_and_async_queries_equal_the_core_pipeline(
    core: dict[str, RagPipeline],
    engines: dict[str, RagdistillQueryEngine],
    questions: list[str],
    arm: str,
) -> None:
    for question in questions:
        expected = core[arm].answer(question)
        assert isinstance(expected.answer, str) and expected.answer
        assert_same(engines[arm].query(question), expected)
        assert_same(await engines[arm].aquery(question), expected)
        assert_same(engines[arm].query(QueryBundle(question)), expected)


def test_the_response_carries_nodes_and_timings(
    core: dict[str, RagPipeline], engines: dict[str, RagdistillQueryEngine], questions: list[str]
) -> None:
    response = engines["teacher"].query(questions[0])
    expected = core["teacher"].answer(questions[0]).contexts
    for got, want in zip(response.source_nodes, expected, strict=True):
        assert isinstance(got.node, TextNode)
        assert got.node.get_content() == want.text
        assert got.node.metadata == {"doc_id": want.doc_id, "title": want.title}
        assert got.node.ref_doc_id == want.doc_id
    assert response.metadata["arm"] is None and response.metadata["request_id"] is None
    stages = {"query_transformer", "embedder", "search", "reranker", "generator"}
    assert set(response.metadata["seconds"]) == stages
    assert all(s >= 0 for s in response.metadata["seconds"].values())
    assert response.metadata["usage"]["generator"]["completion_tokens"] > 0


@pytest.mark.parametrize("arm", ARMS)
async def test_the_retrievers_return_the_contexts(
    spec: PipelineSpec,
    corpus: Corpus,
    core: dict[str, RagPipeline],
    engines: dict[str, RagdistillQueryEngine],
    questions: list[str],
    arm: str,
) -> None:
    built = RagdistillRetriever.from_spec(spec, arm, corpus)
    for retriever in (built, engines[arm].as_retriever()):
        for question in questions:
            expected = [c.id for c in core[arm].retrieve(question).contexts]
            assert ids(retriever.retrieve(question)) == expected
            assert ids(await retriever.aretrieve(question)) == expected
            assert ids(engines[arm].retrieve(QueryBundle(question))) == expected


def test_the_conversation_reaches_the_pipeline(
    core: dict[str, RagPipeline],
    engines: dict[str, RagdistillQueryEngine],
    questions: list[str],
    spy: Any,
) -> None:
    calls = spy(engines["teacher"].pipeline, "answer")
    expected = core["teacher"].answer(questions[0], HISTORY_MESSAGES)
    bound = engines["teacher"].with_chat_history(HISTORY)
    assert_same(bound.query(questions[0]), expected)
    in_bundle = RagdistillQueryBundle(questions[0], chat_history=list(HISTORY))
    assert_same(engines["teacher"].query(in_bundle), expected)
    assert [c[0] for c in calls] == [(questions[0], HISTORY_MESSAGES)] * 2
    # The bound copy shares the pipeline and leaves the original engine as it was.
    assert bound.pipeline is engines["teacher"].pipeline
    engines["teacher"].query(questions[0])
    assert calls[-1][0] == (questions[0], ())


def test_a_single_pipeline_ignores_the_key(
    core: dict[str, RagPipeline], engines: dict[str, RagdistillQueryEngine], questions: list[str]
) -> None:
    expected = core["student"].answer(questions[1])
    assert_same(engines["student"].with_key("user-1").query(questions[1]), expected)
    assert_same(engines["student"].query(RagdistillQueryBundle(questions[1], key="u")), expected)
    with pytest.raises(TypeError, match="needs a PipelineRouter"):
        engines["student"].record_feedback("r1", 1.0)
    engines["student"].close()  # nothing to close; answers still work
    assert engines["student"].query(questions[1]).response == expected.answer


def test_the_retriever_serves_a_retriever_query_engine(
    core: dict[str, RagPipeline],
    engines: dict[str, RagdistillQueryEngine],
    questions: list[str],
    tiny_generator: Any,
) -> None:
    llm = RagdistillLLM(tiny_generator)
    query_engine = RetrieverQueryEngine.from_args(engines["teacher"].as_retriever(), llm=llm)
    response = query_engine.query(questions[0])
    assert ids(response.source_nodes) == [c.id for c in core["teacher"].retrieve(questions[0]).contexts]  # fmt: skip
    assert isinstance(response.response, str)


def test_anything_but_a_pipeline_is_refused(hashing_embedder: Any) -> None:
    with pytest.raises(TypeError, match="RagPipeline or PipelineRouter"):
        RagdistillQueryEngine(hashing_embedder)
    with pytest.raises(TypeError, match="RagPipeline or PipelineRouter"):
        RagdistillRetriever(hashing_embedder)


def test_from_spec_reads_a_toml_file_and_llama_index_documents(
    pipeline_spec: dict[str, Any], tmp_path: Path
) -> None:
    from llama_index.core import Document

    arm = pipeline_spec["arms"]["student"]
    (tmp_path / "pipeline.toml").write_text(
        "k = 2\ncontexts = 1\nmax_new_tokens = 4\n"
        f"[arms.student.embedder]\nartifact = {json.dumps(arm['embedder']['artifact'])}\n"
        f"[arms.student.generator]\nartifact = {json.dumps(arm['generator']['artifact'])}\n"
    )
    docs = [
        Document(text="Paris is in France.", id_="a", metadata={"title": "France"}),
        Document(text="The Rhine flows north.", id_="b"),
    ]
    engine = RagdistillQueryEngine.from_spec(tmp_path / "pipeline.toml", "student", docs)
    nodes = engine.query("Where is Paris?").source_nodes
    assert len(nodes) == 1 and nodes[0].node.node_id in {"a", "b"}
    titles = {"a": "France", "b": ""}
    assert nodes[0].node.metadata["title"] == titles[nodes[0].node.node_id]


# -- the router behind the same engine --------------------------------------------------------


@pytest.fixture(scope="module")
def router_engine(
    spec: PipelineSpec, corpus: Corpus, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    log = tmp_path_factory.mktemp("router") / "ab.sqlite"
    engine = RagdistillQueryEngine.router_from_spec(spec, corpus, log)
    yield engine, log
    engine.close()


KEYS = [f"user-{i}" for i in range(8)]


async def test_the_router_engine_keeps_each_key_on_its_arm(
    router_engine: Any, core: dict[str, RagPipeline], questions: list[str]
) -> None:
    engine, log = router_engine
    arms: dict[str, set[str]] = {}
    for key in KEYS:
        for question in questions[:2]:
            response = engine.with_key(key).query(question)
            arms.setdefault(key, set()).add(response.metadata["arm"])
            # The arm that answered is exactly the core pipeline of that arm.
            assert_same(response, core[response.metadata["arm"]].answer(question))
            assert response.metadata["request_id"]
        bundled = await engine.aquery(RagdistillQueryBundle(questions[2], key=key))
        arms[key].add(bundled.metadata["arm"])
        assert_same(bundled, core[bundled.metadata["arm"]].answer(questions[2]))
    assert all(len(a) == 1 for a in arms.values()), arms
    assert set().union(*arms.values()) == set(ARMS)
    with sqlite3.connect(log) as db:
        rows = db.execute(
            "SELECT assignment, count(*) FROM requests WHERE role = 'served' GROUP BY assignment"
        ).fetchall()
    assert dict(rows) == {"key": len(KEYS) * 3}


async def test_the_router_retriever_and_feedback(
    router_engine: Any, core: dict[str, RagPipeline], questions: list[str]
) -> None:
    engine, log = router_engine
    key = KEYS[0]
    arm = engine.with_key(key).query(questions[0]).metadata["arm"]
    retriever = engine.as_retriever().with_key(key)
    expected = [c.id for c in core[arm].retrieve(questions[1]).contexts]
    assert ids(retriever.retrieve(questions[1])) == expected
    assert ids(await retriever.aretrieve(questions[1])) == expected
    response = engine.with_key(key).with_chat_history(HISTORY).query(questions[0])
    assert_same(response, core[arm].answer(questions[0], HISTORY_MESSAGES))
    engine.record_feedback(response.metadata["request_id"], 1.0)
    with sqlite3.connect(log) as db:
        got = db.execute("SELECT request_id, score FROM feedback").fetchall()
    assert (response.metadata["request_id"], 1.0) in got
