"""RagdistillPipelineRunnable / RagdistillPipelineRetriever on a spec of tiny real models:
what the offline A/B measures, the core pipeline, the runnable and the router all answer
alike."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document as LCDocument
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableLambda

from langchain_ragdistill import RagdistillPipelineRetriever, RagdistillPipelineRunnable
from ragdistill.contracts import Message
from ragdistill.rag import Corpus, PipelineAnswer, PipelineSpec, RagPipeline, build_pipeline
from ragdistill.rag.components import ComponentPool
from ragdistill.rag.offline import run_offline_ab
from ragdistill.rag.spec import parse_spec

ARMS = ("teacher", "student")
HISTORY = [HumanMessage("Tell me about France."), AIMessage("France is a country in Europe.")]
HISTORY_MESSAGES = (
    Message("user", "Tell me about France."),
    Message("assistant", "France is a country in Europe."),
)
KEYS = [f"user-{i}" for i in range(8)]


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
def runnables(spec: PipelineSpec, corpus: Corpus) -> dict[str, RagdistillPipelineRunnable]:
    """Each arm built from the spec as a runnable, on models loaded apart from ``core``'s."""
    pool = ComponentPool()
    return {arm: RagdistillPipelineRunnable.from_spec(spec, arm, corpus, pool=pool) for arm in ARMS}  # fmt: skip


def ids(docs: list[LCDocument]) -> list[str | None]:
    return [d.id for d in docs]


def assert_same(out: dict[str, Any], expected: PipelineAnswer) -> None:
    assert out["answer"] == expected.answer
    assert ids(out["contexts"]) == [c.id for c in expected.contexts]
    assert [d.metadata["score"] for d in out["contexts"]] == pytest.approx(
        [c.score for c in expected.contexts], abs=1e-6
    )
    assert out["queries"] == expected.queries
    assert set(out["seconds"]) == set(expected.seconds)


def test_the_runnable_answers_what_the_offline_ab_measured(
    spec: PipelineSpec,
    pipeline_dataset: Any,
    runnables: dict[str, RagdistillPipelineRunnable],
    tmp_path: Path,
) -> None:
    qids = list(pipeline_dataset.queries)[:3]
    run_offline_ab(spec, pipeline_dataset, qids, tmp_path, warmup=0, n_bootstrap=10,
                   show_progress=False)  # fmt: skip
    for arm in ARMS:
        rows = (tmp_path / "answers" / f"{arm}.jsonl").read_text().splitlines()[1:]
        measured = {r["qid"]: PipelineAnswer.from_dict(r["answer"]) for r in map(json.loads, rows)}
        for qid in qids:
            assert_same(runnables[arm].invoke(pipeline_dataset.queries[qid]), measured[qid])


@pytest.mark.parametrize("arm", ARMS)
async def test_invoke_batch_and_their_async_forms_equal_the_core_pipeline(
    core: dict[str, RagPipeline],
    runnables: dict[str, RagdistillPipelineRunnable],
    questions: list[str],
    arm: str,
    spy: Any,
) -> None:
    expected = [core[arm].answer(q) for q in questions]
    assert all(isinstance(e.answer, str) and e.answer for e in expected)
    rag = runnables[arm]
    for question, want in zip(questions, expected, strict=True):
        assert_same(rag.invoke(question), want)
        assert_same(rag.invoke({"question": question}), want)
    for got, want in zip(rag.batch(questions), expected, strict=True):
        assert_same(got, want)
    # The async forms await the pipeline's own async method.
    awaited = spy(rag.pipeline, "aanswer")
    assert_same(await rag.ainvoke({"question": questions[0]}), expected[0])
    for got, want in zip(await rag.abatch(questions), expected, strict=True):
        assert_same(got, want)
    assert len(awaited) == 1 + len(questions)


def test_the_output_carries_documents_and_timings(
    core: dict[str, RagPipeline],
    runnables: dict[str, RagdistillPipelineRunnable],
    questions: list[str],
) -> None:
    out = runnables["teacher"].invoke(questions[0])
    expected = core["teacher"].answer(questions[0]).contexts
    for doc, want in zip(out["contexts"], expected, strict=True):
        assert doc.page_content == want.text and doc.id == want.id
        assert doc.metadata == {"id": want.id, "doc_id": want.doc_id, "title": want.title,
                                "score": pytest.approx(want.score, abs=1e-6)}  # fmt: skip
    assert out["arm"] is None and out["request_id"] is None
    stages = {"query_transformer", "embedder", "search", "reranker", "generator"}
    assert set(out["seconds"]) == stages
    assert out["usage"]["generator"]["completion_tokens"] > 0


@pytest.mark.parametrize("arm", ARMS)
async def test_the_retriever_returns_the_contexts(
    spec: PipelineSpec,
    corpus: Corpus,
    core: dict[str, RagPipeline],
    questions: list[str],
    arm: str,
) -> None:
    retriever = RagdistillPipelineRetriever.from_spec(spec, arm, corpus)
    expected = [[c.id for c in core[arm].retrieve(q).contexts] for q in questions]
    for question, want in zip(questions, expected, strict=True):
        assert ids(retriever.invoke(question)) == want
        assert ids(await retriever.ainvoke(question)) == want
    assert [ids(docs) for docs in retriever.batch(questions)] == expected
    assert [ids(docs) for docs in await retriever.abatch(questions)] == expected


def test_the_conversation_reaches_the_pipeline(
    core: dict[str, RagPipeline],
    runnables: dict[str, RagdistillPipelineRunnable],
    questions: list[str],
    spy: Any,
) -> None:
    rag = runnables["teacher"]
    calls = spy(rag.pipeline, "answer")
    expected = core["teacher"].answer(questions[0], HISTORY_MESSAGES)
    assert_same(rag.invoke({"question": questions[0], "history": HISTORY}), expected)
    as_tuples = [("human", "Tell me about France."), ("ai", "France is a country in Europe.")]
    assert_same(rag.invoke({"query": questions[0], "chat_history": as_tuples}), expected)
    assert [c[0] for c in calls] == [(questions[0], HISTORY_MESSAGES)] * 2


def test_a_single_pipeline_ignores_the_key(
    core: dict[str, RagPipeline],
    runnables: dict[str, RagdistillPipelineRunnable],
    questions: list[str],
) -> None:
    rag = runnables["student"]
    expected = core["student"].answer(questions[1])
    assert_same(rag.invoke({"question": questions[1], "key": "user-1"}), expected)
    assert_same(rag.invoke(questions[1], config={"configurable": {"key": "u"}}), expected)
    with pytest.raises(TypeError, match="needs a PipelineRouter"):
        rag.record_feedback("r1", 1.0)


def test_bad_inputs_are_refused(
    runnables: dict[str, RagdistillPipelineRunnable], hashing_embedder: Any
) -> None:
    with pytest.raises(TypeError, match="needs a str under one of"):
        runnables["student"].invoke({"questoin": "typo"})
    with pytest.raises(TypeError, match="takes a question str or a dict"):
        runnables["student"].invoke(["not", "a", "question"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RagPipeline or PipelineRouter"):
        RagdistillPipelineRunnable(pipeline=hashing_embedder)
    with pytest.raises(TypeError, match="RagPipeline or PipelineRouter"):
        RagdistillPipelineRetriever(pipeline=hashing_embedder)


def test_from_spec_reads_a_toml_file_and_langchain_documents(
    pipeline_spec: dict[str, Any], tmp_path: Path
) -> None:
    arm = pipeline_spec["arms"]["student"]
    (tmp_path / "pipeline.toml").write_text(
        "k = 2\ncontexts = 1\nmax_new_tokens = 4\n"
        f"[arms.student.embedder]\nartifact = {json.dumps(arm['embedder']['artifact'])}\n"
        f"[arms.student.generator]\nartifact = {json.dumps(arm['generator']['artifact'])}\n"
    )
    docs = [
        LCDocument("Paris is in France.", id="a", metadata={"title": "France"}),
        LCDocument("The Rhine flows north.", metadata={"id": "b", "doc_id": "rhine"}),
    ]
    rag = RagdistillPipelineRunnable.from_spec(tmp_path / "pipeline.toml", "student", docs)
    (doc,) = rag.invoke("Where is Paris?")["contexts"]
    expected = {"a": ("a", "France"), "b": ("rhine", "")}[str(doc.id)]
    assert (doc.metadata["doc_id"], doc.metadata["title"]) == expected


# -- the router behind the same runnable ------------------------------------------------------


@pytest.fixture(scope="module")
def router(
    spec: PipelineSpec, corpus: Corpus, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RagdistillPipelineRunnable, Path]]:
    log = tmp_path_factory.mktemp("router") / "ab.sqlite"
    rag = RagdistillPipelineRunnable.router_from_spec(spec, corpus, log)
    yield rag, log
    rag.close()


async def test_the_router_keeps_each_key_on_its_arm_however_it_is_given(
    router: tuple[RagdistillPipelineRunnable, Path],
    core: dict[str, RagPipeline],
    questions: list[str],
) -> None:
    rag, log = router
    arms: dict[str, set[str]] = {}
    for key in KEYS:
        outs = [
            rag.invoke({"question": questions[0], "key": key}),
            rag.invoke(questions[1], config={"configurable": {"key": key}}),
            await rag.ainvoke({"question": questions[2]}, config={"configurable": {"key": key}}),
        ]
        for question, out in zip(questions, outs, strict=True):
            assert out["request_id"]
            # The arm that answered is exactly the core pipeline of that arm.
            assert_same(out, core[out["arm"]].answer(question))
        arms[key] = {out["arm"] for out in outs}
    assert all(len(a) == 1 for a in arms.values()), arms
    assert set().union(*arms.values()) == set(ARMS)
    with sqlite3.connect(log) as db:
        rows = db.execute(
            "SELECT assignment, count(*) FROM requests WHERE role = 'served' GROUP BY assignment"
        ).fetchall()
    assert dict(rows) == {"key": len(KEYS) * 3}


def test_the_input_key_wins_over_the_config_key(
    router: tuple[RagdistillPipelineRunnable, Path], questions: list[str]
) -> None:
    rag, _ = router
    by_key = {k: rag.invoke({"question": questions[0], "key": k})["arm"] for k in KEYS}
    teacher = next(k for k, a in by_key.items() if a == "teacher")
    student = next(k for k, a in by_key.items() if a == "student")
    out = rag.invoke({"question": questions[0], "key": student}, {"configurable": {"key": teacher}})  # fmt: skip
    assert out["arm"] == "student"


def test_the_key_set_on_an_outer_chain_reaches_the_router(
    router: tuple[RagdistillPipelineRunnable, Path], questions: list[str]
) -> None:
    rag, log = router
    chain = RunnableLambda(lambda q: {"question": q.strip()}) | rag | itemgetter("arm", "request_id")  # fmt: skip
    arm, request_id = chain.invoke(f"  {questions[0]} ", config={"configurable": {"key": KEYS[0]}})
    assert arm == rag.invoke({"question": questions[0], "key": KEYS[0]})["arm"]
    rag.record_feedback(request_id, 0.5)
    with sqlite3.connect(log) as db:
        assert (request_id, 0.5) in db.execute("SELECT request_id, score FROM feedback").fetchall()


async def test_the_router_retriever_takes_the_key_and_history(
    router: tuple[RagdistillPipelineRunnable, Path],
    core: dict[str, RagPipeline],
    questions: list[str],
) -> None:
    rag, _ = router
    retriever = RagdistillPipelineRetriever(pipeline=rag.pipeline)
    key = KEYS[2]
    arm = rag.invoke({"question": questions[0], "key": key})["arm"]
    expected = [c.id for c in core[arm].retrieve(questions[1], HISTORY_MESSAGES).contexts]
    config: Any = {"configurable": {"key": key}}
    assert ids(retriever.invoke(questions[1], config, history=HISTORY)) == expected
    assert ids(await retriever.ainvoke(questions[1], config, history=HISTORY)) == expected
    assert ids(retriever.invoke(questions[1], key=key, history=HISTORY)) == expected


# -- LangChain's own standard suite (langchain-tests) on the retriever ----------------------

standard = pytest.importorskip("langchain_tests.integration_tests")


class TestPipelineRetrieverStandard(standard.RetrieversIntegrationTests):
    pipeline: Any = None

    @pytest.fixture(autouse=True)
    def _use(self, core: dict[str, RagPipeline]) -> None:
        # The suite reads class properties, not fixtures: hand it a built pipeline.
        type(self).pipeline = core["student"]

    @property
    def retriever_constructor(self) -> type[RagdistillPipelineRetriever]:
        return RagdistillPipelineRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"pipeline": type(self).pipeline}

    @property
    def retriever_query_example(self) -> str:
        return "What is the capital of France?"

    # How many passages an arm returns is the spec's `contexts`, as measured: no `k`.
    @pytest.mark.xfail(reason="the spec's `contexts` sets how many passages an arm reads", strict=True)  # fmt: skip
    def test_k_constructor_param(self) -> None:
        super().test_k_constructor_param()

    @pytest.mark.xfail(reason="the spec's `contexts` sets how many passages an arm reads", strict=True)  # fmt: skip
    def test_invoke_with_k_kwarg(self, retriever: Any) -> None:
        super().test_invoke_with_k_kwarg(retriever)
