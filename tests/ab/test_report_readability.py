"""The parts of every stage's A/B report people read first (issue #16, item 5).

The headline sentence per arm with its numbers, tables that fit the page, a forest plot
that grows with its rows, and "cached" where a cached arm's figure would be the cache's.
Results are built by hand, so every number in a sentence is known.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest

from ragdistill.ab.headline import Kept, kept_of_teacher, kept_sentence, speed_ratio
from ragdistill.ab.html import CACHED_MARK, options_cell, table
from ragdistill.ab.result import Comparison
from ragdistill.contracts import FloatArray, Generation, GenerationRequest, Generator, Reranker
from ragdistill.datasets import RetrievalDataset
from ragdistill.stages.embedder.ab_report import write_html_report
from ragdistill.stages.embedder.ab_result import ABResult, ArmResult
from ragdistill.stages.generator.ab_report import write_report as write_generator_report
from ragdistill.stages.generator.ab_result import GenerationABResult, build_result
from ragdistill.stages.generator.examples import Context, GenerationExample
from ragdistill.stages.generator.speed import SpeedStats
from ragdistill.stages.query_transformer.ab import METRICS, ArmRun
from ragdistill.stages.query_transformer.ab_report import write_report as write_query_report
from ragdistill.stages.query_transformer.ab_result import QueryABResult
from ragdistill.stages.query_transformer.ab_result import build_result as build_query_result
from ragdistill.stages.query_transformer.data import QueryExample
from ragdistill.stages.reranker.ab_report import write_rerank_report
from ragdistill.stages.reranker.ab_result import RerankABResult, RerankArm

pytest.importorskip("matplotlib")

LONG_OPTION = "Represent this sentence for searching relevant passages: " * 4
#: The teacher's 96.8% (CI 94.1-99.0%) of nDCG@10 0.5, as a paired student - teacher gap.
GAP = Comparison("ndcg@10", "student", "teacher", -0.016, -0.0295, -0.005, 0.95)
SENTENCE = (
    "The student keeps 96.8% of the teacher's nDCG@10 (95% CI 94.1–99.0%) at 10.0x its query speed."
)


def _page(path: Path) -> str:
    """The report's text with HTML entities for quotes undone, so sentences compare."""
    return path.read_text(encoding="utf-8").replace("&#x27;", "'")


# --- the sentence builder --------------------------------------------------------------


def test_sentence_from_a_comparison() -> None:
    kept = kept_of_teacher(GAP, 0.5)
    assert kept is not None and kept.share == pytest.approx(0.968)
    assert (kept.low, kept.high) == (pytest.approx(0.941), pytest.approx(0.99))
    assert kept_sentence("student", "nDCG@10", kept, speed_ratio(50.0, 5.0)) == SENTENCE


def test_sentence_leaves_out_what_it_cannot_say() -> None:
    kept = Kept(0.5, float("nan"), float("nan"))
    assert kept_sentence("lora", "F1", kept) == "The lora arm keeps 50.0% of the teacher's F1."
    assert kept_of_teacher(GAP, 0.0) is None  # no share of a zero
    assert speed_ratio(None, 5.0) is None and speed_ratio(10.0, 0.0) is None
    text = kept_sentence("baseline", "F1", None, 0.5, speed="answer speed")
    assert text == (
        "The student before distillation runs at 0.50x the teacher's answer speed; "
        "no share of the teacher's F1 to report."
    )
    low = Kept(-0.25, -0.5, 0.1)
    assert "(95% CI -50.0% to 10.0%)" in kept_sentence("student", "F1", low)


# --- the embedder's report -------------------------------------------------------------


def _embedder_arm(name: str, ndcg: float, p50: float, **kwargs: object) -> ArmResult:
    return ArmResult(
        name=name, embedder={"class": "x.Embedder", "options": {"prompt": LONG_OPTION}},
        fingerprint="0123456789abcdef", collection=f"ab-{name}", model=f"models/{name}",
        metrics={"ndcg@10": ndcg}, metric_ci={"ndcg@10": [ndcg - 0.01, ndcg + 0.01]},
        per_query={"ndcg@10": [ndcg, ndcg]}, latency={"total": {"p50_ms": p50, "p95_ms": p50}},
        latency_ms=[p50, p50], **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def _embedder_result() -> ABResult:
    # The teacher's index came from its cache: its index time (0.4 s) is the cache's; its
    # memory (2.1 MB) was measured encoding with the model itself, as every arm's is.
    teacher = _embedder_arm("teacher", 0.5, 50.0, peak_memory_bytes=2_202_009,
                            index_seconds=0.4, outputs_cached=True)  # fmt: skip
    student = _embedder_arm("student", 0.484, 5.0, peak_memory_bytes=3 * 2**20, index_seconds=7.5)
    return ABResult(
        dataset={"name": "made-up"}, settings={"k": 10}, query_ids=["q1", "q2"],
        arms={"teacher": teacher, "student": student}, comparisons=[GAP],
    )  # fmt: skip


def test_embedder_report_headline_and_cached_teacher(tmp_path: Path) -> None:
    page = _page(write_html_report(_embedder_result(), tmp_path / "report.html"))
    assert SENTENCE in page
    assert page.index(SENTENCE) < page.index("<table>")  # the first thing on the page
    assert CACHED_MARK in page and "* cached: this arm's outputs were read from" in page
    assert "2.1 MB" in page and "0.4" not in re.sub(r"<[^>]+>", " ", page).split()
    assert "3.0 MB" in page and "7.5" in page  # the student's own figures


def test_retrieval_ab_flags_the_arm_indexed_through_its_cache(
    judged: RetrievalDataset, tmp_path: Path
) -> None:
    pytest.importorskip("chromadb")
    from ab_fixtures import BagOfWords

    from ragdistill.stages.embedder.ab import run_retrieval_ab

    teacher = BagOfWords(512)
    result = run_retrieval_ab(
        judged, teacher, BagOfWords(6, salt="s"), index_embedders={"teacher": BagOfWords(512)},
        index_dir=tmp_path / "chroma", k=10, n_bootstrap=50, throughput_texts=8, warmup=1,
        show_progress=False,
    )  # fmt: skip
    assert result.arms["teacher"].outputs_cached and not result.arms["student"].outputs_cached


def test_embedder_tables_fit_the_page(tmp_path: Path) -> None:
    page = _page(write_html_report(_embedder_result(), tmp_path / "report.html"))
    assert page.count("<table>") == page.count("<div class=wide><table>")  # scroll, not spill
    assert "<details class=opts><summary>1 option</summary>" in page  # long options fold
    assert "max-width:1100px" in page and ".wide{max-width:100%;overflow-x:auto}" in page
    assert page.count("data:image/png;base64,") == 4  # bars, forest, latency, scatter


# --- the reranker's report -------------------------------------------------------------


def _rerank_arm(name: str, ndcg: float, p50: float | None) -> RerankArm:
    latency = {} if p50 is None else {"20": {"p50_ms": p50, "p95_ms": p50, "mean_ms": p50,
                                             "n": 2, "candidates": 20.0}}  # fmt: skip
    return RerankArm(
        name=name, component={"class": "x.Reranker", "options": {}}, metrics={"ndcg@10": ndcg},
        metric_ci={"ndcg@10": [ndcg - 0.01, ndcg + 0.01]}, per_query={"ndcg@10": [ndcg, ndcg]},
        latency=latency, outputs_cached=name == "teacher",
    )  # fmt: skip


def test_reranker_report_headline(tmp_path: Path) -> None:
    gap = Comparison("ndcg@10", "student", "teacher", -0.05, -0.1, 0.02, 0.95)
    result = RerankABResult(
        dataset={"name": "made-up"}, settings={"k": 20, "latency_candidates": [20]},
        query_ids=["q1", "q2"],
        arms={"teacher": _rerank_arm("teacher", 0.8, 120.0),
              "student": _rerank_arm("student", 0.75, 30.0),
              "first_stage": _rerank_arm("first_stage", 0.5, None)},
        comparisons=[gap],
    )  # fmt: skip
    page = _page(write_rerank_report(result, tmp_path / "report.html"))
    # 0.75 / 0.8 = 93.75%; CI 1 - .1/.8 = 87.5% to 1 + .02/.8 = 102.5%; 120 / 30 ms = 4x.
    assert (
        "The student keeps 93.8% of the teacher's nDCG@10 (95% CI 87.5–102.5%) at 4.0x its "
        "speed reranking 20 candidates." in page
    )
    assert "Quality scores of teacher read from the score cache" in page


class WordOverlap(Reranker):
    """Scores a pair by the words query and document share."""

    def __init__(self, name: str) -> None:
        self.options = {"name": name}

    def score_pairs(self, pairs: list[tuple[str, str]]) -> FloatArray:
        return np.array([len(set(q.split()) & set(d.lower().split())) for q, d in pairs],
                        dtype=np.float32)  # fmt: skip


def test_rerank_ab_flags_the_arm_scored_from_its_cache(judged: RetrievalDataset) -> None:
    from ragdistill.stages.reranker.ab import run_rerank_ab

    ids = [p.id for p in judged.passages()]
    candidates = {q: ids[:5] for q in judged.queries}
    arms = {"teacher": WordOverlap("t"), "student": WordOverlap("s")}
    result = run_rerank_ab(
        judged, candidates, arms, k=5, quality_scorers={"teacher": WordOverlap("t")},
        latency_candidates=(5,), latency_queries=2, n_bootstrap=50, show_progress=False,
    )  # fmt: skip
    assert result.arms["teacher"].outputs_cached and not result.arms["student"].outputs_cached


# --- the generator's report ------------------------------------------------------------


def _examples() -> list[GenerationExample]:
    return [
        GenerationExample("e1", "Capital of France?", (Context("Paris is the capital."),),
                          ("Paris",), True),
        GenerationExample("e2", "When was it built?", (Context("Built in 1889."),), ("1889",),
                          True),
    ]  # fmt: skip


def _speed(answer_ms: float, memory: str = "rss") -> SpeedStats:
    return SpeedStats(answer_ms / 4, answer_ms / 3, 20.0, 50.0, 2_202_009, 1000, None, 2,
                      answer_ms, memory)  # fmt: skip


def _generation(memory: str = "rss") -> GenerationABResult:
    return build_result(
        _examples(),
        {"teacher": ["Paris", "1889"], "student": ["Paris", "in 1890"]},
        abstain="I cannot answer.",
        speed={"teacher": _speed(900.0, memory), "student": _speed(300.0, memory)},
        describe={"teacher": {"class": "T", "model": "big"}, "student": {"model": "small"}},
        dataset={"name": "tiny"}, dropped_contexts=[0, 0], bootstrap=200,
        cached={"teacher": True},
    )  # fmt: skip


def test_generator_report_headline_and_cached_memory(tmp_path: Path) -> None:
    result = _generation()
    assert result.arms["teacher"].outputs_cached and not result.arms["student"].outputs_cached
    page = _page(write_generator_report(result, tmp_path / "report.html"))
    # F1: teacher 1.0 and 1.0, student 1.0 and 0 ("in 1890" vs "1889"): it keeps 50%.
    gap = result.comparison("f1")
    assert gap.diff == pytest.approx(-0.5)
    low, high = 100 * (1 + gap.low), 100 * (1 + gap.high)
    assert (
        f"The student keeps 50.0% of the teacher's F1 (95% CI {low:.1f}–{high:.1f}%) at 3.0x "
        "its answer speed." in page
    )
    speed_rows = re.search(r"<th>TTFT p50 ms</th>.*?</table>", page, re.S)
    assert speed_rows is not None
    assert CACHED_MARK in speed_rows[0] and speed_rows[0].count("2.1 MB (rss)") == 1
    assert "* cached: this arm's outputs were read from its answer store" in page
    assert "Model size '-'" in page  # the teacher has no folder to measure


def test_generator_accelerator_memory_stays_for_a_cached_arm(tmp_path: Path) -> None:
    # The peak of live CUDA tensors does not depend on what ran before: it is the model's.
    page = _page(write_generator_report(_generation("cuda"), tmp_path / "report.html"))
    assert CACHED_MARK not in page and page.count("2.1 MB (cuda)") == 2


class Parrot(Generator):
    """Answers every request with its last message's first word (no model, no sleep)."""

    def __init__(self, name: str) -> None:
        self.options = {"name": name}

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        return [Generation(r.messages[-1].content.split()[0]) for r in requests]


def test_generation_ab_records_which_arms_came_from_their_store(tmp_path: Path) -> None:
    from ragdistill.generation.store import GenerationStore
    from ragdistill.stages.generator.ab import answer_all, run_generation_ab

    prompts = [(e, [{"role": "user", "content": e.question}], 0) for e in _examples()]
    arms = {"teacher": Parrot("t"), "student": Parrot("s")}
    stores = {n: GenerationStore.open(n, root=tmp_path) for n in arms}
    # The distillation asked the teacher already: the A/B reads its answers.
    answer_all(arms["teacher"], prompts, stores["teacher"], max_new_tokens=8,
               show_progress=False, name="teacher")  # fmt: skip

    def run() -> GenerationABResult:
        return run_generation_ab(prompts, arms, stores=stores, abstain="No.",
                                 dataset={"name": "tiny"}, max_new_tokens=8, latency_queries=1,
                                 n_bootstrap=50, show_progress=False)  # fmt: skip

    first = run()
    assert first.arms["teacher"].outputs_cached and not first.arms["student"].outputs_cached
    assert all(arm.outputs_cached for arm in run().arms.values())  # a rerun reads them all


# --- the query transformer's report ----------------------------------------------------


def _query_result() -> QueryABResult:
    examples = [QueryExample(f"q{i}", f"query {i}", {f"d{i}": 1}) for i in range(4)]
    values = {"raw": [0, 0, 0.5, 0.5], "teacher": [1, 1, 1, 1], "student": [1, 0, 0.5, 1]}
    speed = {"p50_ms": 80.0, "p95_ms": 90.0, "peak_memory_bytes": 2_202_009, "n": 4}
    runs = {
        "raw": ArmRun([[e.query] for e in examples], 0),
        "teacher": ArmRun([["t"]] * 4, 0, cached=True, speed=speed),
        "student": ArmRun([["s"]] * 4, 0, speed={**speed, "p50_ms": 20.0,
                                                 "peak_memory_bytes": 3 * 2**20}),
    }  # fmt: skip
    scores = {a: {m: [float(v) for v in vs] for m in METRICS} for a, vs in values.items()}
    return build_query_result(examples, runs, scores, task="expand", num_queries=1,
                              dataset={"name": "tiny"}, describe={}, n_bootstrap=500)  # fmt: skip


def test_query_report_keeps_the_lift_framing(tmp_path: Path) -> None:
    result = _query_result()
    page = _page(write_query_report(result, tmp_path / "report.html"))
    # Lifts: teacher 1, 1, .5, .5 (mean .75), student 1, 0, 0, .5 (mean .375): 50%; 80/20 ms.
    share = result.shares["student"]["ndcg@10"]
    assert share["mean"] == pytest.approx(0.5)
    assert (
        f"The student keeps 50.0% of the teacher's lift in nDCG@10 over the raw query (95% CI "
        f"{100 * share['low']:.1f}–{100 * share['high']:.1f}%) at 4.0x its query speed." in page
    )
    assert page.index("The student keeps") < page.index("<h2>Arms</h2>")
    assert CACHED_MARK in page and "2.1 MB" not in page and "3.0 MB" in page


# --- old result files ------------------------------------------------------------------


def test_results_without_the_cached_field_still_load(tmp_path: Path) -> None:
    old = _embedder_result().to_dict()
    for arm in old["arms"].values():
        del arm["outputs_cached"]
    loaded = ABResult.from_dict(old)
    assert not any(a.outputs_cached for a in loaded.arms.values())
    page = _page(write_html_report(loaded, tmp_path / "e.html"))
    assert CACHED_MARK not in page and "2.1 MB" in page  # no flag: the figure as recorded

    gen = _generation().to_dict()
    for arm in gen["arms"].values():
        del arm["outputs_cached"]
    assert not GenerationABResult.from_dict(gen).arms["teacher"].outputs_cached

    rerank = RerankABResult(dataset={}, settings={}, query_ids=[],
                            arms={"teacher": _rerank_arm("teacher", 0.8, 1.0)}).to_dict()  # fmt: skip
    del rerank["arms"]["teacher"]["outputs_cached"]
    assert not RerankABResult.from_dict(rerank).arms["teacher"].outputs_cached

    query = _query_result().to_dict()
    for arm in query["arms"].values():
        arm.pop("outputs_cached")
    page = _page(write_query_report(QueryABResult.from_dict(query), tmp_path / "q.html"))
    assert CACHED_MARK not in page and "2.1 MB" in page


# --- shared pieces ---------------------------------------------------------------------


def test_table_cells_escape_unless_marked() -> None:
    html = table(["a", "b"], [["<b>", options_cell({"options": {"k": "<v>"}})]])
    assert "<td>&lt;b&gt;</td>" in html and "<span class=opts>k=&lt;v&gt;</span>" in html
    folded = options_cell({"options": {"prompt": LONG_OPTION, "n": 2}})
    assert folded.startswith("<details class=opts><summary>2 options</summary>")
    assert options_cell({}) == "<span class=opts>-</span>"


def test_forest_plot_grows_with_its_rows() -> None:
    import matplotlib
    from PIL import Image

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ragdistill.ab.plots import forest_png

    def height(arms: int, metrics: int) -> int:
        comps = [Comparison(f"m{j}@10", f"arm{i}", "teacher", 0.1, -0.1, 0.2, 0.95)
                 for i in range(arms) for j in range(metrics)]  # fmt: skip
        image = Image.open(io.BytesIO(base64.b64decode(forest_png(comps, plt))))
        return image.size[1]

    assert height(2, 2) < height(8, 2) < height(8, 6)  # rows, then a second row of panels
