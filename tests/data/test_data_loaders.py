"""The BEIR, text-folder and tau2 loaders on small folders made here."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import pytest

from ragdistill.data import BeirDataset, Tau2BankingDataset, TextFolderDataset
from ragdistill.data.tau2 import DOCUMENTS, OTHER_TASKS, TASKS
from ragdistill.errors import ConfigError


def write_beir(root: Path, *, n_docs: int = 6) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "corpus.jsonl", "w") as fh:
        for i in range(n_docs):
            fh.write(json.dumps({"_id": f"d{i}", "title": f"T{i}", "text": f"text {i}"}) + "\n")
    with open(root / "queries.jsonl", "w") as fh:
        for i in range(4):
            fh.write(json.dumps({"_id": f"q{i}", "text": f"query {i}"}) + "\n")
    (root / "qrels").mkdir(exist_ok=True)
    rows = ["query-id\tcorpus-id\tscore", "q0\td0\t1", "q0\td5\t2", "q1\td1\t1", "q2\td9\t1"]
    (root / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n")
    (root / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq3\td3\t1\n")
    return root


def test_beir_reads_judged_queries_and_graded_qrels(tmp_path: Path) -> None:
    ds = BeirDataset(write_beir(tmp_path / "toy")).load()
    assert ds.name == "beir:toy" and ds.split == "test"
    assert list(ds.queries) == ["q0", "q1", "q2"]  # q3 is judged only in dev
    assert ds.qrels["q0"] == {"d0": 1, "d5": 2}
    assert ds.qrels["q2"] == {}  # d9 is not in the corpus
    assert ds.evaluable_query_ids() == ["q0", "q1"]
    assert ds.corpus["d0"].title == "T0" and ds.corpus["d0"].text == "text 0"
    assert ds.chunk_size is None  # BEIR documents are embedded whole by default
    dev = BeirDataset(tmp_path / "toy", split="dev").load()
    assert list(dev.queries) == ["q3"]


def test_beir_limits_keep_judged_documents(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "toy")
    ds = BeirDataset(root, max_queries=1, max_corpus=3).load()
    assert list(ds.queries) == ["q0"]
    assert {"d0", "d5"} <= set(ds.corpus) and len(ds.corpus) == 3


def test_beir_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist; a BEIR folder holds corpus\.jsonl"):
        BeirDataset(tmp_path / "nope").load()
    root = write_beir(tmp_path / "toy")
    with pytest.raises(
        ConfigError, match=r"lacks qrels/train.tsv \(qrels splits present: dev, test\)"
    ):
        BeirDataset(root, split="train").load()
    (root / "queries.jsonl").unlink()
    with pytest.raises(ConfigError, match=r"lacks queries\.jsonl"):
        BeirDataset(root).load()


def test_beir_bad_lines_are_located(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "toy")
    with open(root / "corpus.jsonl", "a") as fh:
        fh.write("{not json\n")
    with pytest.raises(ConfigError, match=r"corpus.jsonl:7: not valid JSON"):
        BeirDataset(root).load()
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\thigh\n")
    with pytest.raises(ConfigError, match=r"test.tsv:2: score 'high' is not a number"):
        BeirDataset(root).load()


def test_text_folder_chunks_files_and_reads_queries(tmp_path: Path) -> None:
    root = tmp_path / "notes"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("First paragraph.\n\nSecond paragraph.")
    (root / "sub" / "b.md").write_text("# B\n\n" + "\n\n".join(["sentence " * 20] * 5))
    (root / "skip.csv").write_text("x,y")
    (root / "empty.txt").write_text("   ")
    (root / "queries.txt").write_text("first question\n\nsecond question\n")
    ds = TextFolderDataset(root, chunk_size=300, chunk_overlap=30).load()
    assert sorted(ds.corpus) == ["a.txt", "sub/b.md"]
    assert ds.queries == {"q1": "first question", "q3": "second question"}
    assert not ds.has_qrels
    passages = ds.passages()
    assert [p.id for p in passages if p.doc_id == "a.txt"] == ["a.txt"]
    b_parts = [p for p in passages if p.doc_id == "sub/b.md"]
    assert len(b_parts) > 1 and all(p.text.startswith("b\n") for p in b_parts)
    only_md = TextFolderDataset(root, pattern="**/*.md").load()
    assert list(only_md.corpus) == ["sub/b.md"]


def test_text_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        TextFolderDataset(tmp_path / "nope").load()
    (tmp_path / "x.csv").write_text("a")
    with pytest.raises(ConfigError, match="no file matching"):
        TextFolderDataset(tmp_path).load()
    with pytest.raises(ConfigError, match="holds no glob"):
        TextFolderDataset(tmp_path, pattern=" | ")


def fake_inspect_wheel(path: Path, *, other_domains: bool = False) -> Path:
    """A zip laid out like the inspect-evals wheel, with a few records of the real shape."""
    docs = [
        {"id": "doc_a", "title": "Opening Accounts", "content": "## Eligibility\n\nBe 18."},
        {"id": "doc_b", "title": "Cards", "content": "Gold card has no fee."},
        {"id": "doc_c", "title": "Loans", "content": "Loans need income."},
    ]
    tasks = [
        {"id": "task_001", "user_scenario": {"persona": None, "instructions": "I want a card."},
         "required_documents": ["doc_b", "doc_zz"]},
        {"id": "task_002", "user_scenario": {"persona": "Calm.", "instructions": "Open account."},
         "required_documents": ["doc_a"]},
        {"id": "task_003", "user_scenario": {"instructions": "No docs."}, "required_documents": []},
    ]  # fmt: skip
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(DOCUMENTS, gzip.compress(json.dumps(docs).encode()))
        zf.writestr(TASKS, json.dumps(tasks))
        for name in OTHER_TASKS if other_domains else []:
            other = json.dumps([
                {"id": "0", "user_scenario": {"persona": "Terse.", "instructions": f"Help: {name}"}},
                {"id": "1", "user_scenario": {"instructions": ""}},
            ]).encode()  # fmt: skip
            zf.writestr(name, gzip.compress(other) if name.endswith(".gz") else other)
    return path


def test_tau2_reads_the_wheel_layout(tmp_path: Path) -> None:
    wheel = fake_inspect_wheel(tmp_path / "inspect_evals-0.0-py3-none-any.whl")
    ds = Tau2BankingDataset(wheel_path=wheel).load()
    assert ds.name == "tau2-banking"
    assert set(ds.corpus) == {"doc_a", "doc_b", "doc_c"}
    assert ds.corpus["doc_a"].title == "Opening Accounts"
    assert ds.queries == {"task_001": "I want a card.", "task_002": "Calm.\n\nOpen account."}
    assert ds.qrels == {"task_001": {"doc_b": 1}, "task_002": {"doc_a": 1}}
    assert list(Tau2BankingDataset(wheel_path=wheel, max_queries=1).load().queries) == ["task_001"]


def test_tau2_other_domain_scenarios_are_unjudged_training_text(tmp_path: Path) -> None:
    wheel = fake_inspect_wheel(tmp_path / "w.whl", other_domains=True)
    ds = Tau2BankingDataset(wheel_path=wheel, other_domain_queries=True).load()
    extra = {q: t for q, t in ds.queries.items() if "/" in q}
    assert sorted(extra) == ["airline/0", "retail/0", "telecom/0"]  # empty scenarios dropped
    assert extra["telecom/0"] == "Terse.\n\nHelp: " + OTHER_TASKS[2]
    assert ds.evaluable_query_ids() == ["task_001", "task_002"]  # never evaluated
    with pytest.raises(ConfigError, match="other_domain_queries = false"):
        Tau2BankingDataset(
            wheel_path=fake_inspect_wheel(tmp_path / "plain.whl"), other_domain_queries=True
        ).load()


def test_tau2_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.whl"
    bad.write_text("not a zip")
    with pytest.raises(ConfigError, match="not a wheel"):
        Tau2BankingDataset(wheel_path=bad).load()
    empty = tmp_path / "empty.whl"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(ConfigError, match=r"lacks .*documents\.json\.gz"):
        Tau2BankingDataset(wheel_path=empty).load()


@pytest.mark.slow
def test_tau2_real_wheel(tmp_path: Path) -> None:
    """Downloads the pinned inspect-evals wheel (21 MB) with pip and checks its sha256."""
    pytest.importorskip("ragdistill.models.wheels")
    ds = Tau2BankingDataset().load()
    assert len(ds.corpus) == 698
    assert len(ds.queries) == 97 == len(ds.evaluable_query_ids())
    assert 8 < sum(len(r) for r in ds.qrels.values()) / len(ds.qrels) < 12
    assert len(ds.passages()) > len(ds.corpus)  # long documents are chunked
    wider = Tau2BankingDataset(other_domain_queries=True).load()
    assert len(wider.queries) > 2000 and wider.evaluable_query_ids() == ds.evaluable_query_ids()


SCIFACT = Path(__file__).resolve().parents[3] / "shared" / "data" / "scifact"


@pytest.mark.slow
def test_beir_scifact() -> None:
    if not (SCIFACT / "corpus.jsonl").is_file():
        pytest.skip(f"BEIR SciFact is not at {SCIFACT} (it exists only on the project machines)")
    ds = BeirDataset(SCIFACT).load()
    assert len(ds.corpus) == 5183
    assert len(ds.queries) == 300
    assert sum(len(r) for r in ds.qrels.values()) == 339
    assert len(BeirDataset(SCIFACT, split="train").load().queries) == 809
