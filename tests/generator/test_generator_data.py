"""Generation examples, prompt budgets and the teacher-answer store (no models)."""

from __future__ import annotations

import numpy as np
import pytest

from ragdistill.data.splits import split_questions
from ragdistill.datasets import Document, RetrievalDataset
from ragdistill.errors import ConfigError
from ragdistill.generation.rows import teacher_batch, token_row
from ragdistill.generation.store import GenerationStore, Labelled
from ragdistill.stages.generator.data import assemble, check_text
from ragdistill.stages.generator.examples import Context, GenerationExample
from ragdistill.stages.generator.options import ContextsSpec, PromptSpec
from ragdistill.stages.generator.prompt import fit, messages_for, parse_rationale


def dataset() -> RetrievalDataset:
    corpus = {
        f"a{a}-p{p}": Document(f"a{a}-p{p}", f"article {a}", f"text {a} {p} " * 5)
        for a in range(4)
        for p in range(3)
    }
    queries = {f"q{a}{p}": f"question {a} {p}?" for a in range(4) for p in range(3)}
    return RetrievalDataset(
        name="toy",
        corpus=corpus,
        queries=queries,
        qrels={"q00": {"a0-p0": 1}, "q01": {"a0-p1": 1}},
        chunk_size=None,
        answers={q: [f"answer {q}"] for q in queries},
        sources={q: [f"a{q[1]}-p{q[2]}"] for q in queries},
    )


def test_split_holds_out_whole_groups():
    data = dataset()
    train, evals = split_questions(data, max_eval=None, max_train=None, seed=0)
    assert evals == ["q00", "q01"]
    # q02 shares article 0 with the evaluated questions: never trained on.
    assert "q02" not in train and len(train) == 9


def test_gold_is_included_at_a_seeded_rank_or_withheld():
    data = dataset()
    retrieved = {q: [f"a{(int(q[1]) + 1) % 4}-p0", f"a{(int(q[1]) + 2) % 4}-p1", "a3-p2"]
                 for q in data.queries}  # fmt: skip
    spec = ContextsSpec(k=3, unanswerable=0.0)
    examples = assemble(data, list(data.queries), retrieved, spec, salt="train")
    for ex in examples:
        assert ex.answerable and ex.sources[0] in [c.doc_id for c in ex.contexts]
        assert len(ex.contexts) == 3 and ex.answers == (f"answer {ex.id}",)
    ranks = {[c.doc_id for c in ex.contexts].index(ex.sources[0]) for ex in examples}
    assert len(ranks) > 1  # not always the same slot
    again = assemble(data, list(data.queries), retrieved, spec, salt="train")
    assert again == examples  # seeded
    withheld = assemble(data, list(data.queries), retrieved,
                        ContextsSpec(k=2, unanswerable=0.99), salt="train")  # fmt: skip
    assert all(e.answerable is False and e.answers == () for e in withheld)
    assert all(e.sources[0] not in [c.doc_id for c in e.contexts] for e in withheld)


def test_fit_drops_low_ranked_passages_never_the_question():
    ex = GenerationExample(
        "q", "the question?", tuple(Context(f"passage {i} " * 20) for i in range(3))
    )
    spec = PromptSpec()
    words = lambda m: sum(len(x["content"].split()) for x in m)  # noqa: E731
    full = words(messages_for(ex, spec))
    got = fit(ex, spec, words, full - 10)
    assert got is not None and got.dropped == 1 and len(got.contexts) == 2
    assert got.contexts == ex.contexts[:2]
    assert "the question?" in got.messages[-1]["content"]
    assert fit(ex, spec, words, 5) is None  # the question alone does not fit: skipped


def test_prompt_templates_are_checked():
    with pytest.raises(ValueError, match=r"prompt.user must contain \{contexts\}"):
        PromptSpec(user="Question: {question}")
    with pytest.raises(ValueError, match=r"prompt.context uses \['url'\]"):
        PromptSpec(context="{url} {text}")


def test_non_utf8_text_is_a_clear_error():
    bad = GenerationExample("q7", "what\udcff?", (Context("x"),))
    with pytest.raises(ConfigError, match=r"example 'q7' holds text that is not valid UTF-8"):
        check_text(bad)


def test_store_survives_uncommitted_rows_and_keeps_sparse_logprobs(tmp_path):
    store = GenerationStore.open("t1", k=2, root=tmp_path)
    ids = np.array([[5, 6], [7, 0]], dtype=np.int32)
    lps = np.array([[-0.1, -2.0], [-0.5, -np.inf]], dtype=np.float32)
    store.put(["a", "b"], [Labelled("yes", "stop", np.array([5, 7]), ids, lps),
                           Labelled("", "stop")])  # fmt: skip
    # A kill between the row append and the commit leaves rows the index does not name.
    with open(store.folder / "top_ids.i32", "ab") as fh:
        fh.write(np.zeros(6, dtype=np.int32).tobytes())
    store.close()
    again = GenerationStore.open("t1", k=2, root=tmp_path)
    assert (again.folder / "top_ids.i32").stat().st_size == 2 * 2 * 4
    a, b = again.get(["a", "b"])
    assert a.text == "yes" and a.token_ids.tolist() == [5, 7]
    np.testing.assert_array_equal(a.top_logprobs, lps)
    assert b.text == "" and b.token_ids is None
    assert again.missing(["a", "b", "c"]) == ["c"]
    with pytest.raises(KeyError, match="label it first"):
        again.get(["c"])


def test_token_rows_end_with_a_certain_eos_and_batch_pads():
    label = Labelled("x y", "stop", np.array([4, 9]), np.array([[4, 1], [9, 2]]),
                     np.array([[-0.1, -3.0], [-0.2, -2.5]], dtype=np.float32))  # fmt: skip
    row = token_row([1, 2, 3], label, eos_id=3, max_answer=8)
    assert row.target_ids == (4, 9, 3)
    assert row.top_ids[2, 0] == 3 and row.top_logprobs[2, 0] == 0.0
    assert np.isneginf(row.top_logprobs[2, 1])
    short = token_row([1], Labelled("x", "stop", np.array([4]), np.array([[4, 1]]),
                                    np.array([[-0.1, -3.0]], dtype=np.float32)), 3, max_answer=8)  # fmt: skip
    targets, extra = teacher_batch([row, short])
    assert targets.tolist() == [[4, 9, 3], [4, 3, 0]]
    assert extra["mask"].tolist() == [[True, True, True], [True, True, False]]
    assert extra["top_ids"].shape == (2, 3, 2)


def test_rationale_parsing():
    assert parse_rationale("Reasoning: context 2 says so.\nAnswer: Paris") == (
        "context 2 says so.", "Paris")  # fmt: skip
    assert parse_rationale("Paris") is None
    assert parse_rationale("Reasoning: x\nAnswer:") is None


def test_non_utf8_files_name_the_file_and_the_fix(tmp_path):
    from ragdistill.data.beir import read_json_lines
    from ragdistill.data.squad import SquadDataset

    squad = tmp_path / "dev.json"
    squad.write_bytes(b'{"data": [{"title": "caf\xe9", "paragraphs": []}]}')
    with pytest.raises(ConfigError, match=r"dev.json:1: byte 24 \(0xe9\) is not utf-8 .*re-encode"):
        SquadDataset(squad).load()
    lines = tmp_path / "corpus.jsonl"
    lines.write_bytes(b'{"_id": "1", "text": "ok"}\n{"_id": "2", "text": "caf\xe9"}\n')
    with pytest.raises(
        ConfigError, match=r"corpus.jsonl:2: byte \d+ \(0xe9\) is not utf-8 .*re-encode"
    ):
        list(read_json_lines(lines))
