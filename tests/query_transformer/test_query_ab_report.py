"""The query-transformer A/B's HTML report and headline, on hand-made arm runs and scores."""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from ragdistill.contracts import Message
from ragdistill.stages.query_transformer.ab import METRICS, ArmRun
from ragdistill.stages.query_transformer.ab_report import write_report
from ragdistill.stages.query_transformer.ab_result import QueryABResult, build_result
from ragdistill.stages.query_transformer.data import QueryExample

EVIL = "<script>alert('x')</script> & <b>it</b>"
#: An option far too long for a table cell: it must stay in the collapsed details.
LONG_PROMPT = "Rewrite the follow-up question as a stand-alone search query. " * 6


def _speed(p50: float, params: int | None = 1_000_000) -> dict[str, object]:
    return {"p50_ms": p50, "p95_ms": 1.5 * p50, "mean_ms": 1.1 * p50, "throughput_qps": 1000 / p50,
            "peak_memory_bytes": 3 * 2**20, "parameters": params, "size_bytes": 5 * 2**20,
            "n": 40}  # fmt: skip


def _examples(n: int, *, conversation: bool) -> list[QueryExample]:
    out = []
    for i in range(n):
        query = EVIL if i == 0 else f"what about it {i}?"
        history = (Message("user", f"tell me about topic {i}"),) if conversation else ()
        gold = f"what about topic {i}?" if conversation else None
        out.append(QueryExample(f"q{i}", query, {f"d{i}": 1}, history, gold))
    return out


def _scores(names: dict[str, float], n: int) -> dict[str, dict[str, list[float]]]:
    """Per-example scores whose mean rises with each arm's ``level`` (noise fixed by seed)."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.0, 0.5, n)
    return {
        name: {m: list(np.clip(base + level + rng.normal(0, 0.05, n), 0, 1)) for m in METRICS}
        for name, level in names.items()
    }


def _describe() -> dict[str, object]:
    return {
        "teacher": {"class": "ragdistill.hf.PromptedQueryTransformer", "model": "big-llm",
                    "options": {"rewrite_prompt": LONG_PROMPT, "temperature": 0.0}},
        "student": {"component": {"class": "ragdistill.hf.Seq2SeqQueryTransformer",
                                  "model": "runs/student", "options": {"prefix": LONG_PROMPT}},
                    "metrics": {"train/steps": 10}},
        "baseline": {"class": "ragdistill.hf.Seq2SeqQueryTransformer", "model": "t5-small",
                     "options": {}},
        "embedder": {"class": "ragdistill.hf.Embedder", "model": "mini-embed"},
    }  # fmt: skip


def rewrite_result() -> QueryABResult:
    examples = _examples(30, conversation=True)
    runs = {
        "raw": ArmRun([[e.query] for e in examples], 0),
        "history": ArmRun([[f"{e.history[0].content} {e.query}"] for e in examples], 0),
        "gold": ArmRun([[e.gold or ""] for e in examples], 0),
        "teacher": ArmRun([[f"teacher {i} {EVIL}"] for i in range(30)], 1, cached=True,
                          speed=_speed(400.0, params=None)),
        "student": ArmRun([[f"student {i}"] for i in range(30)], 3, speed=_speed(20.0)),
        "baseline": ArmRun([[f"baseline {i}"] for i in range(30)], 9, speed=_speed(18.0)),
    }  # fmt: skip
    levels = {"raw": 0.0, "history": 0.1, "gold": 0.4, "teacher": 0.3, "student": 0.22,
              "baseline": 0.05}  # fmt: skip
    return build_result(
        examples, runs, _scores(levels, 30), task="rewrite", num_queries=1,
        dataset={"name": "squad-conv", "split": "dev", "queries": 30, "sizes": [1, 2]},
        describe=_describe(), n_bootstrap=200, notes=["Teacher follow-ups: 2 rejected <unchanged>."],
    )  # fmt: skip


def expand_result() -> QueryABResult:
    """raw/teacher/student only; the teacher shows no lift (shares NaN); no speed at all."""
    examples = _examples(30, conversation=False)
    runs = {
        "raw": ArmRun([[e.query] for e in examples], 0),
        "teacher": ArmRun([[f"a {i}", f"b {i}", "c"] for i in range(30)], 0, speed={}),
        "student": ArmRun([[f"x {i}", f"y {i}"] for i in range(30)], 2, speed=None),
    }
    scores = _scores({"raw": 0.0, "student": 0.1}, 30)
    scores["teacher"] = {m: list(v) for m, v in scores["raw"].items()}  # lift exactly 0
    return build_result(examples, runs, scores, task="expand", num_queries=3,
                        dataset={"name": "fiqa"}, describe={}, n_bootstrap=200)  # fmt: skip


class _Cells(HTMLParser):
    """The text of every ``<td>`` of every table, per table."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.tables[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _cells(html: str) -> list[list[str]]:
    parser = _Cells()
    parser.feed(html)
    return parser.tables


def _plain(sentence: str) -> str:
    """A headline sentence as the page escapes it."""
    return sentence.replace("&", "&amp;").replace("'", "&#x27;")


@pytest.fixture(scope="module")
def rewrite() -> QueryABResult:
    return rewrite_result()


@pytest.fixture(scope="module")
def rewrite_html(rewrite: QueryABResult, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = write_report(rewrite, tmp_path_factory.mktemp("qt") / "sub" / "report.html")
    return path.read_text(encoding="utf-8")


def test_rewrite_report_headline_and_arms(rewrite: QueryABResult, rewrite_html: str) -> None:
    html = rewrite_html
    sentences = rewrite.headline()
    assert [s.split(":")[0] for s in sentences[:3]] == ["baseline", "student", "teacher"]
    for sentence in sentences:
        assert _plain(sentence) in html
    assert html.index(_plain(sentences[0])) < html.index("<h2>Arms</h2>")  # headline first
    arms_table = _cells(html)[0]
    for name in ("raw", "history", "baseline", "student", "teacher", "gold"):
        assert f"<b>{name}</b>" in html
        assert any(cell.startswith(name) for cell in arms_table)
    assert "cached outputs" in html and "class=tag" in html  # the teacher's outputs
    assert "3 10.0%" in arms_table  # malformed: count and share of 30
    assert "1 3.3%cached outputs" in arms_table  # the teacher's, from its store
    assert "1.0M" in arms_table and "3.0 MB" in arms_table and "5.0 MB" in arms_table
    assert "400.0p95 600.0" in arms_table  # latency p50 with p95 below
    assert html.count("data:image/png;base64,") == 2  # forest plot and latency scatter
    assert "http://" not in html and "https://" not in html and "<link" not in html


def test_rewrite_report_escapes_and_keeps_options_out_of_tables(rewrite_html: str) -> None:
    html = rewrite_html
    assert "<script" not in html.lower() and "<b>it</b>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;it&lt;/b&gt;" in html
    assert "2 rejected &lt;unchanged&gt;." in html  # notes escaped
    tables = _cells(html)
    for cells in [*tables[:-2], tables[-1]]:  # every table but the sample
        assert all(len(cell) <= 120 for cell in cells), max(cells, key=len)
    # Options live in one collapsed section per described component.
    details = re.findall(r"<details>.*?</details>", html)
    assert len(details) == 4 and all("<summary><b>" in d for d in details)
    assert html.count(LONG_PROMPT) == 2  # the teacher's and the student's options
    assert "train/steps" in html and "mini-embed" in html
    # The sample: history, query, gold and every arm's output with its nDCG@10.
    sample = _cells(html)[-2]
    context = "user: tell me about topic 0" + EVIL + "gold: what about topic 0?"
    assert context in sample  # the history turn, the query, the gold question
    assert any(cell.startswith("teacher 0 <script>") for cell in sample)  # (parser unescapes)
    assert any("gold: what about topic 3?" in cell for cell in sample)
    assert len([c for c in sample if re.fullmatch(r"\d\.\d{3}", c)]) == 6 * 25


def test_expand_report_without_teacher_lift_or_speed(tmp_path: Path) -> None:
    result = expand_result()
    assert all(np.isnan(s["mean"]) for s in result.shares["student"].values())
    html = write_report(result, tmp_path / "report.html").read_text(encoding="utf-8")
    for sentence in result.headline():
        assert _plain(sentence) in html
    assert "is not significant" in html and "class=warn" in html
    assert "a 0 | b 0 | c" in html  # expansions joined
    assert "history" not in _cells(html)[0] and "gold:" not in html
    assert html.count("data:image/png;base64,") == 1  # no arm timed: no scatter
    assert "No arm was timed." in html
    student = _cells(html)[0][12:24]  # 12 cells per arm: raw, student, teacher
    assert student[0].startswith("student") and student[6] == "2 6.7%"
    assert student[5] == "-" and student[7:] == ["-"] * 5  # NaN share, no speed


@pytest.mark.parametrize("arms", [("raw",), ("raw", "student")])
def test_report_with_few_arms(tmp_path: Path, arms: tuple[str, ...]) -> None:
    examples = _examples(6, conversation=False)
    runs = {a: ArmRun([[e.query] for e in examples], 0, speed=_speed(5.0)) for a in arms}
    scores = _scores(dict.fromkeys(arms, 0.1), 6)
    result = build_result(examples, runs, scores, task="hyde", num_queries=1, dataset={},
                          describe={}, n_bootstrap=50)  # fmt: skip
    html = write_report(result, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<b>raw</b>" in html and "teacher&#x27;s lift" in html
    if arms == ("raw",):
        assert "No model arm was compared" in html


def test_json_round_trip_renders_the_same(rewrite: QueryABResult, rewrite_html: str,
                                          tmp_path: Path) -> None:  # fmt: skip
    back = QueryABResult.from_json(rewrite.to_json(tmp_path / "result.json"))
    assert back.headline() == rewrite.headline()
    assert write_report(back, tmp_path / "back.html").read_text(encoding="utf-8") == rewrite_html
    expand = expand_result()
    again = QueryABResult.from_json(expand.to_json(tmp_path / "expand.json"))
    first = write_report(expand, tmp_path / "e1.html").read_text(encoding="utf-8")
    assert write_report(again, tmp_path / "e2.html").read_text(encoding="utf-8") == first


def test_report_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises ImportError
    html = write_report(expand_result(), tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Plots left out" in html and "data:image/png" not in html


# --- headline numbers by hand ----------------------------------------------------------


def _tiny(raw: list[float], teacher: list[float], student: list[float]) -> QueryABResult:
    examples = _examples(4, conversation=False)
    values = {"raw": raw, "teacher": teacher, "student": student}
    speeds = {"raw": None, "teacher": _speed(80.0), "student": _speed(20.0)}
    runs = {a: ArmRun([[e.query] for e in examples], 0, speed=speeds[a]) for a in values}
    scores = {a: dict.fromkeys(METRICS, v) for a, v in values.items()}
    return build_result(examples, runs, scores, task="expand", num_queries=1, dataset={},
                        describe={}, n_bootstrap=1000)  # fmt: skip


def _cis(sentence: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """The lift's CI and the share's CI (in %) of a headline sentence."""
    lift = re.search(r"\(95% CI ([-+][\d.]+) to ([-+][\d.]+)\)", sentence)
    share = re.search(r"\(CI (-?\d+)% to (-?\d+)%\)", sentence)
    assert lift and share, sentence
    return (float(lift[1]), float(lift[2])), (float(share[1]), float(share[2]))


def test_headline_numbers_by_hand() -> None:
    # Lifts per query: teacher 1, 1, .5, .5 (mean .75); student 1, 0, 0, .5 (mean .375),
    # so the student keeps .375 / .75 = 50% of the teacher's lift, at 80 / 20 = 4x its speed.
    result = _tiny(raw=[0, 0, 0.5, 0.5], teacher=[1, 1, 1, 1], student=[1, 0, 0.5, 1])
    student, teacher = result.headline()  # the teacher's lift is significant: no note
    assert student.startswith("student: ndcg@10 0.625, +0.375 over the raw query (95% CI ")
    assert "; keeps 50.0% of the teacher's lift (CI " in student
    assert student.endswith(", at 4.0x the teacher's speed (p50)")
    (low, high), (share_low, share_high) = _cis(student)
    assert 0.0 <= low < 0.375 < high <= 1.0  # within the range of the student's lifts
    assert share_low <= 50 <= share_high
    assert teacher.startswith("teacher: ndcg@10 1.000, +0.750 over the raw query (95% CI +0.500")
    assert "keeps" not in teacher and "speed" not in teacher


def test_headline_when_the_teacher_does_not_help() -> None:
    # Teacher lifts 1, -1, 0, 0: mean 0, so no share (NaN) and the plain note.
    result = _tiny(raw=[0, 1, 0.5, 0.5], teacher=[1, 0, 0.5, 0.5], student=[0.5, 1, 0.5, 0.5])
    assert np.isnan(result.shares["student"]["ndcg@10"]["mean"])
    student, teacher, note = result.headline()
    assert student.startswith("student: ndcg@10 0.625, +0.125 over the raw query")
    assert "keeps" not in student and "4.0x the teacher's speed" in student
    assert teacher.startswith("teacher: ndcg@10 0.500, +0.000 over the raw query")
    assert note.startswith("The teacher's own ndcg@10 lift over the raw query is not significant")
