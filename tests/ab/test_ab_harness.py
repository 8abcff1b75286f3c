"""run_retrieval_ab, ABResult JSON and the HTML report on genuine embedders."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest
from ab_fixtures import BagOfWords

from ragdistill.contracts import FloatArray, InputType
from ragdistill.datasets import RetrievalDataset
from ragdistill.errors import ConfigError
from ragdistill.stages.embedder.ab import run_retrieval_ab
from ragdistill.stages.embedder.ab_report import write_html_report
from ragdistill.stages.embedder.ab_result import ABResult

pytest.importorskip("chromadb")


def run(dataset: RetrievalDataset, tmp_path: Path, **kwargs: object) -> ABResult:
    defaults = dict(
        index_dir=tmp_path / "chroma", k=10, cutoffs=(1, 10), n_bootstrap=200,
        throughput_texts=16, warmup=1, show_progress=False,
    )  # fmt: skip
    defaults.update(kwargs)
    return run_retrieval_ab(dataset, BagOfWords(512), BagOfWords(6, salt="s"), **defaults)  # type: ignore[arg-type]


def test_three_arm_ab(judged: RetrievalDataset, tmp_path: Path) -> None:
    result = run(judged, tmp_path, baseline=BagOfWords(3, salt="b"))
    assert list(result.arms) == ["teacher", "student", "baseline"]
    assert result.query_ids == list(judged.queries)
    teacher, student = result.arms["teacher"], result.arms["student"]
    assert set(teacher.metrics) == {f"{m}@{k}" for m in ("ndcg", "recall", "mrr") for k in (1, 10)}
    assert teacher.metrics["ndcg@10"] > 0.95  # the 512-bucket teacher nearly always hits
    assert len(student.per_query["ndcg@10"]) == len(judged.queries)
    low, high = teacher.metric_ci["ndcg@10"]
    assert low <= teacher.metrics["ndcg@10"] <= high
    pairs = {(c.arm, c.reference) for c in result.comparisons}
    assert pairs == {("student", "teacher"), ("student", "baseline"), ("baseline", "teacher")}
    gap = result.comparison("ndcg@10")
    assert gap.diff == pytest.approx(student.metrics["ndcg@10"] - teacher.metrics["ndcg@10"])
    assert gap.low <= gap.diff <= gap.high and gap.high < 0 and gap.significant
    assert set(result.agreement) == {"student", "baseline"}
    assert 0 <= result.agreement["student"]["overlap@10"]["mean"] <= 1
    for arm in result.arms.values():
        assert arm.latency["total"]["n"] == len(judged.queries)
        assert arm.latency["total"]["p95_ms"] >= arm.latency["total"]["p50_ms"] > 0
        assert arm.throughput_texts_per_s and arm.throughput_texts_per_s > 0
        assert arm.index_stats["embedded"] == arm.index_stats["passages"] == 40
    assert result.dataset["fingerprint"] == judged.fingerprint()


def test_rerun_reuses_the_indexes(judged: RetrievalDataset, tmp_path: Path) -> None:
    run(judged, tmp_path)
    again = run(judged, tmp_path)
    assert all(a.index_stats["embedded"] == 0 for a in again.arms.values())
    rebuilt = run(judged, tmp_path, rebuild=True)
    assert rebuilt.arms["teacher"].index_stats["embedded"] == 40


def test_json_round_trip_and_report(judged: RetrievalDataset, tmp_path: Path) -> None:
    result = run(judged, tmp_path, max_queries=12, baseline=BagOfWords(3, salt="b"))
    assert len(result.query_ids) == 12
    path = result.to_json(tmp_path / "out" / "ab.json")
    data = json.loads(path.read_text())
    assert data["arms"]["student"]["per_query"]["mrr@10"]
    loaded = ABResult.from_json(path)
    assert loaded.to_dict() == result.to_dict()
    report = write_html_report(loaded, tmp_path / "out" / "report.html")
    page = report.read_text()
    # bars, forest plot of the differences, quality against speed, latency, per-query scatter
    assert page.count("src='data:image/png;base64,") == 5
    assert not re.search(r"<script|<link|src=['\"]http|url\(", page)  # no external asset
    assert "student &minus; teacher" in page and "ndcg@10" in page
    assert "made-up" in result.summary()


def test_without_qrels_reports_agreement_only(judged: RetrievalDataset, tmp_path: Path) -> None:
    unjudged = RetrievalDataset("notes", judged.corpus, judged.queries, {}, chunk_size=None)
    result = run(unjudged, tmp_path)
    assert result.comparisons == [] and result.arms["teacher"].metrics == {}
    assert "overlap@10" in result.agreement["student"]
    page = write_html_report(result, tmp_path / "r.html").read_text()
    assert "No relevance judgements" in page and page.count("data:image/png") == 1


def test_a_dataset_without_queries_is_refused(judged: RetrievalDataset, tmp_path: Path) -> None:
    empty = RetrievalDataset("corpus-only", judged.corpus, {}, {}, chunk_size=None)
    with pytest.raises(ConfigError, match=r"no queries to run.*queries\.txt"):
        run(empty, tmp_path)


class Recorded(BagOfWords):
    """A bag of words that logs which arm encoded what, to see when speed is measured."""

    def __init__(self, dim: int, salt: str, log: list[tuple[str, str, int]]) -> None:
        super().__init__(dim, salt=salt)
        self.log = log

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        self.log.append((self.salt, input_type, len(texts)))
        return super().embed_batch(texts, input_type=input_type)


def test_speed_is_measured_after_indexing_in_interleaved_rounds(
    judged: RetrievalDataset, tmp_path: Path
) -> None:
    log: list[tuple[str, str, int]] = []
    result = run_retrieval_ab(
        judged, Recorded(512, "t", log), Recorded(6, "s", log), index_dir=tmp_path / "chroma",
        k=10, cutoffs=(10,), n_bootstrap=200, throughput_texts=16, throughput_repeats=1,
        throughput_rounds=3, warmup=1, show_progress=False,
    )  # fmt: skip
    # Batched query encodes are the speed passes (search encodes one query at a time).
    speed = [i for i, (_, kind, n) in enumerate(log) if kind == "query" and n > 1]
    last_search = max(i for i, (_, kind, n) in enumerate(log) if kind == "query" and n == 1)
    assert min(speed) > last_search  # every arm indexed and searched first
    order = [log[i][0] for i in speed]
    runs = [arm for i, arm in enumerate(order) if i == 0 or order[i - 1] != arm]
    assert runs == ["t", "s", "t", "s"]  # rounds: t s | s t | t s
    for arm in result.arms.values():
        assert len(arm.query_throughput_rounds) == len(arm.throughput_rounds) == 3
        assert arm.query_throughput_per_s == statistics.median(arm.query_throughput_rounds)
        assert arm.throughput_texts_per_s == statistics.median(arm.throughput_rounds)
    assert result.settings["throughput_rounds"] == 3
    page = write_html_report(result, tmp_path / "report.html").read_text()
    assert "median of 3 rounds" in page


def test_speedups_compare_arms_round_by_round() -> None:
    from ragdistill.stages.embedder.ab_result import ArmResult

    def arm(rounds: list[float]) -> ArmResult:
        return ArmResult(name="x", embedder={}, fingerprint="f", collection="c",
                         query_throughput_per_s=statistics.median(rounds),
                         query_throughput_rounds=rounds, throughput_texts_per_s=2.0)  # fmt: skip

    # Round ratios 10, 10 and 3: the machine slowed the teacher in round 3 alone.
    student, teacher = arm([100.0, 40.0, 90.0]), arm([10.0, 4.0, 30.0])
    assert student.query_speedup(teacher) == 10.0
    assert statistics.median([100, 40, 90]) / statistics.median([10, 4, 30]) == 9.0
    # Results from before rounds: the ratio of the two rates.
    student.query_throughput_rounds = []
    assert student.query_speedup(teacher) == 9.0
    assert student.passage_speedup(teacher) == 1.0 and student.query_speedup(None) is None
