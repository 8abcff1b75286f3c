"""The generator A/B's pieces: answer metrics, speed measurement, result file and report."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import pytest

from ragdistill.contracts.generator import Generator, request
from ragdistill.contracts.messages import Generation, GenerationRequest
from ragdistill.stages.generator.ab_report import write_report
from ragdistill.stages.generator.ab_result import GenerationABResult, build_result
from ragdistill.stages.generator.examples import Context, GenerationExample
from ragdistill.stages.generator.metrics import (
    answer_length,
    exact_match,
    groundedness,
    is_abstention,
    normalize_answer,
    token_f1,
)
from ragdistill.stages.generator.speed import SpeedStats, measure_speed

ABSTAIN = "I cannot answer from the given contexts."

# --- metrics ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  A cat,\tan  apple. ", "cat apple"),
        ("Theatre of the absurd", "theatre of absurd"),  # only whole-word articles go
        ("U.S.A.", "usa"),
        ("", ""),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_exact_match() -> None:
    assert exact_match("The Eiffel Tower", ["eiffel tower"]) == 1.0
    assert exact_match("Denver Broncos", ["the Denver Broncos."]) == 1.0
    assert exact_match("Eiffel", ["eiffel tower"]) == 0.0
    assert exact_match("1889", ["in 1887", "1889"]) == 1.0  # max over gold answers
    assert math.isnan(exact_match("anything", []))


def test_token_f1() -> None:
    # pred tokens cat sat on mat, gold cat on mat: precision 3/4, recall 1.
    assert token_f1("The cat sat on the mat", ["cat on mat"]) == pytest.approx(6 / 7)
    # bag of tokens: "x x y" shares 2 tokens with "x y": precision 2/3, recall 1.
    assert token_f1("x x y", ["x y"]) == pytest.approx(0.8)
    assert token_f1("Broncos", ["Denver Broncos", "Broncos"]) == 1.0
    assert token_f1("Paris", ["London"]) == 0.0
    assert token_f1("the", ["a"]) == 1.0  # both normalise to nothing
    assert token_f1("the", ["Paris"]) == 0.0
    assert math.isnan(token_f1("Paris", []))


def test_groundedness() -> None:
    ctx = [Context("Paris is in France.", title="Capital cities")]
    assert groundedness("Paris is the capital", ctx) == 1.0  # the title counts; "the" is dropped
    assert groundedness("Paris Berlin", ctx) == 0.5
    assert groundedness("Berlin Berlin Paris", ["Paris"]) == pytest.approx(1 / 3)
    assert math.isnan(groundedness("", ctx))
    assert math.isnan(groundedness("...", ctx))
    assert groundedness(ABSTAIN, ctx) == 0.0  # not told the phrase: scored like any answer
    assert math.isnan(groundedness(ABSTAIN, ctx, abstain=ABSTAIN))


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (ABSTAIN, True),
        ("Sorry: i cannot answer from the given contexts", True),
        ("I don't know.", True),
        ("The context does not mention his birthplace.", True),
        ("This question cannot be answered from the passages.", True),
        ("It is not mentioned in the contexts.", True),
        ("Paris; the context does not say when.", False),
        ("Paris", False),
        ("", False),
        ("I cannot answers", False),  # whole words only
    ],
)
def test_is_abstention(answer: str, expected: bool) -> None:
    assert is_abstention(answer, ABSTAIN) is expected


def test_answer_length() -> None:
    assert answer_length("  two\n words ") == 2
    assert answer_length("") == 0


# --- result ----------------------------------------------------------------------------


def _examples() -> list[GenerationExample]:
    return [
        GenerationExample("e1", "Capital of France?", (Context("Paris is the capital of France."),), ("Paris",), True),
        GenerationExample("e2", "When was it built?", (Context("The tower was built in 1889."),), ("1889",), True),
        GenerationExample("e3", "What colour?", (Context("Unrelated text."),), ("blue",), False),
        GenerationExample("e4", "Which animal?", (Context("Some passage about cats."),)),
    ]  # fmt: skip


ANSWERS = {
    "teacher": ["Paris", "1889", "I cannot answer.", "cats"],
    "student": ["Paris", "in 1890", "I cannot answer.", "dogs"],
    "baseline": ["London", "built in 1889", "blue", "cats"],
}


def _speed(ttft: float, tps: float) -> SpeedStats:
    return SpeedStats(ttft, ttft * 1.5, tps, 1000 / tps, 1024, 1000, 4096, 4, ttft * 3)


def _result(answers: dict[str, list[str]] = ANSWERS, sample: int = 3) -> GenerationABResult:
    return build_result(
        _examples(),
        answers,
        abstain="I cannot answer.",
        speed={"teacher": _speed(100.0, 20.0), "student": _speed(25.0, 50.0)},
        describe={"teacher": {"class": "T", "model": "big"}, "student": {"model": "small"}},
        dataset={"name": "tiny"},
        dropped_contexts=[0, 2, 0, 1],
        bootstrap=200,
        sample=sample,
    )


def test_build_result_means() -> None:
    r = _result()
    t, s, b = (r.arms[n].metrics for n in ("teacher", "student", "baseline"))
    assert (t["em"], t["f1"], t["groundedness"]) == (1.0, 1.0, 1.0)
    assert math.isnan(t["agreement"])
    assert (t["abstention_rate"], t["false_abstention_rate"]) == (1.0, 0.0)
    assert (s["em"], s["f1"], s["agreement"]) == (0.5, 0.5, 0.5)
    assert s["groundedness"] == pytest.approx(0.5)  # (1 + 1/2 + 0) / 3; e3 abstained
    assert (b["em"], b["f1"]) == (0.0, 0.25)
    assert b["agreement"] == pytest.approx(0.375)
    assert b["groundedness"] == 0.5
    assert b["abstention_rate"] == 0.0
    assert s["answer_length"] == pytest.approx((1 + 2 + 3 + 1) / 4)
    assert r.arms["student"].counts == {
        "n": 4, "scored": 2, "answerable": 2, "unanswerable": 1, "abstained": 1, "grounded": 3,
    }  # fmt: skip
    assert r.dropped == {"prompts": 2, "passages": 3}
    assert r.arms["student"].component == {"model": "small"}
    assert r.arms["baseline"].speed is None


def test_build_result_comparisons() -> None:
    r = _result()
    em = r.comparison("em", "student", "teacher")
    assert em.diff == -0.5 and em.high <= 0 and em.low >= -1
    assert r.comparison("f1", "student", "baseline").diff == pytest.approx(0.25)
    assert r.comparison("agreement", "student", "baseline").diff == pytest.approx(0.125)
    # groundedness pairs only examples both arms are scored on: e1, e2, e4.
    assert r.comparison("groundedness", "student", "teacher").diff == pytest.approx(-0.5)
    assert r.comparison("em", "baseline", "teacher").diff == -1.0
    assert r.comparison("em", "baseline", "teacher").significant
    with pytest.raises(KeyError):
        r.comparison("agreement", "student", "teacher")
    assert r.speedup("student") == 4.0
    assert r.speed_ratios["student"]["tokens_per_s_ratio"] == 2.5
    assert "baseline" not in r.speed_ratios


def test_build_result_sample_and_checks() -> None:
    r = _result()
    assert len(r.sample) == 3 and r.sample == _result().sample  # seeded
    row = r.sample[0]
    assert set(row["outputs"]) == {"teacher", "student", "baseline"}
    assert [x["id"] for x in r.sample] == sorted(x["id"] for x in r.sample)
    assert len(_result(sample=50).sample) == 4
    with pytest.raises(ValueError, match="student"):
        _result({**ANSWERS, "student": ["only one"]})


def test_result_without_teacher_has_no_agreement() -> None:
    r = _result({"student": ANSWERS["student"], "baseline": ANSWERS["baseline"]})
    assert math.isnan(r.arms["student"].metrics["agreement"])
    assert {(c.arm, c.reference) for c in r.comparisons} == {("student", "baseline")}
    assert "agreement" not in {c.metric for c in r.comparisons}


def test_json_round_trip(tmp_path: Path) -> None:
    r = _result()
    path = r.to_json(tmp_path / "ab" / "generator.json")
    back = GenerationABResult.from_json(path)
    assert json.dumps(back.to_dict()) == json.dumps(r.to_dict())
    assert back.arms["student"].speed_stats() == _speed(25.0, 50.0)
    assert back.comparison("em") == r.comparison("em")


def test_summary() -> None:
    text = _result().summary()
    assert "dataset tiny: 4 examples (2 with gold answers, 1 unanswerable)" in text
    assert "student - teacher em: -0.5000" in text
    assert "time to first token 4.00x faster, 2.50x the decode rate" in text
    assert "3 passages dropped" in text
    assert "1K" in text  # parameters


# --- report ----------------------------------------------------------------------------

EVIL = "<script>alert('x')</script> & <b>bold</b>"


def test_report_escapes_answers(tmp_path: Path) -> None:
    answers = {**ANSWERS, "student": [EVIL, *ANSWERS["student"][1:]], "lora": ANSWERS["student"]}
    page = write_report(_result(answers, sample=4), tmp_path / "r" / "report.html")
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "<b>bold" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold" in html
    assert "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert "3 passages were dropped" in html
    assert "big" in html and "small" in html  # arms' descriptions
    assert "<th>lora</th>" in html  # an arm of any name


def test_report_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises ImportError
    html = write_report(_result(), tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Plots left out" in html and "data:image/png" not in html
    assert "student &minus; teacher" in html


# --- speed -----------------------------------------------------------------------------


class _LM:
    def __init__(self, model: object) -> None:
        self.model = model


class SleepyGenerator(Generator):
    """Answers ``words`` words, sleeping ``prefill_s`` then ``per_token_s`` per token."""

    def __init__(
        self, *, prefill_s: float = 0.02, per_token_s: float = 0.01, words: int = 6,
        usage: bool = True,
    ) -> None:  # fmt: skip
        self.prefill_s, self.per_token_s, self.words, self.usage = (
            prefill_s, per_token_s, words, usage,
        )  # fmt: skip
        self.budgets: list[int] = []

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        out = []
        for req in requests:
            n = min(req.max_new_tokens, self.words)
            self.budgets.append(req.max_new_tokens)
            time.sleep(self.prefill_s + n * self.per_token_s)
            usage = {"completion_tokens": n} if self.usage else {}
            out.append(Generation(" ".join(["word"] * n), "stop", usage))
        return out


REQUESTS = [request(f"question {i}", max_new_tokens=64) for i in range(3)]


@pytest.mark.parametrize("usage", [True, False])
def test_measure_speed(tmp_path: Path, usage: bool) -> None:
    gen = SleepyGenerator(usage=usage)
    (tmp_path / "weights.bin").write_bytes(b"x" * 100)
    stats = measure_speed(gen, REQUESTS, max_new_tokens=16, size_path=tmp_path)
    # warm-up (full budget), then per request a one-token call and a full one.
    assert gen.budgets == [16, 1, 16, 1, 16, 1, 16]
    assert stats.n == 3 and stats.size_bytes == 100 and stats.parameters is None
    # TTFT = prefill + one token = 30 ms; decode = 5 tokens in 80 - 30 ms = 100 tokens/s.
    # Sleeps only ever overrun: a slow one-token call (a loaded machine) leaves less of the
    # full call to the decode, so the rate can read above 100.
    assert 29 <= stats.ttft_p50_ms <= 80
    assert 29 <= stats.ttft_p95_ms <= 120
    assert 60 <= stats.tokens_per_s <= 150
    assert stats.decode_ms_per_token == pytest.approx(1000 / stats.tokens_per_s)
    assert 79 <= stats.answer_p50_ms <= 150
    assert stats.memory == "rss"
    assert stats.peak_memory_bytes is None or stats.peak_memory_bytes >= 0


def test_measure_speed_counts_parameters() -> None:
    torch = pytest.importorskip("torch")
    gen = SleepyGenerator(prefill_s=0.0, per_token_s=0.001)
    gen.lm = _LM(torch.nn.Linear(2, 3))  # type: ignore[attr-defined]
    stats = measure_speed(gen, REQUESTS[:1], max_new_tokens=4, warmup=0)
    assert stats.parameters == 9 and stats.n == 1
    assert gen.budgets == [1, 4]


def test_measure_speed_checks_input() -> None:
    with pytest.raises(ValueError, match="at least one"):
        measure_speed(SleepyGenerator(), [], max_new_tokens=4)
    with pytest.raises(ValueError, match="max_new_tokens"):
        measure_speed(SleepyGenerator(), REQUESTS, max_new_tokens=0)
