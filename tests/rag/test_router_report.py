"""The online A/B's report, read from a router's log: its numbers are the logged ones."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from ragdistill.datasets import RetrievalDataset
from ragdistill.errors import ConfigError
from ragdistill.evaluation.bootstrap import bootstrap_difference
from ragdistill.rag.cli import report_command
from ragdistill.rag.log_report import report_from_log
from ragdistill.rag.report import write_report
from ragdistill.rag.request_log import RequestLog
from ragdistill.rag.result import PipelineABResult
from ragdistill.rag.router import PipelineRouter
from ragdistill.rag.spec import GuardrailSpec
from ragdistill.stages.generator.metrics import token_f1
from tests.rag.router_support import failing, pipelines


@pytest.fixture(scope="module")
def log_path(
    two_arm_spec: dict[str, Any], qa_dataset: RetrievalDataset, tmp_path_factory: pytest.TempPathFactory
) -> Path:  # fmt: skip
    """30 keyed requests with shadow runs and feedback, then 2 forced to a failing
    treatment (answered by the control instead)."""
    path = tmp_path_factory.mktemp("online") / "log.sqlite"
    control, treatment = pipelines(two_arm_spec, qa_dataset)
    questions = list(qa_dataset.queries.values())
    with PipelineRouter(control, treatment, path, shadow=True, salt="r", name="tiny-online") as router:  # fmt: skip
        for i in range(30):
            ans = router.answer(questions[i % len(questions)], key=f"u{i}")
            assert ans.request_id is not None
            router.record_feedback(ans.request_id, i % 3)
    lenient = GuardrailSpec(max_error_rate=1.0)
    with PipelineRouter(control, failing(treatment), path, guardrails=lenient,
                        treatment_name="student", name="tiny-online") as broken:  # fmt: skip
        for i in range(2):
            broken.answer(questions[i], key=f"u{i}", arm="student")
    return path


def test_the_report_reads_the_numbers_the_log_holds(log_path: Path, tmp_path: Path) -> None:
    result = report_from_log(log_path, n_bootstrap=300)
    with RequestLog(log_path) as log:
        served, shadows = log.requests(role="served"), log.requests(role="shadow")
        rated = {f.request_id: f.score for f in log.feedback()}
    assert (result.source, result.name, result.control, result.treatment) == ("online", "tiny-online", "teacher", "student")  # fmt: skip
    assert [a.name for a in result.arms] == ["teacher", "student"]
    by_id = {r.request_id: r for r in served}
    for arm in result.arms:
        rows = [r for r in served if r.arm == arm.name]
        ok = [r.total_ms for r in rows if r.error is None]
        assert arm.n == len(rows) and arm.errors == len(rows) - len(ok)
        assert arm.latency_ms["p50"] == pytest.approx(np.percentile(ok, 50))
        assert arm.latency_ms["p95"] == pytest.approx(np.percentile(ok, 95))
        gen = [r.seconds["generator"] * 1000 for r in rows if r.error is None]
        assert arm.stage_ms["generator"] == pytest.approx(np.median(gen))
        scores = [rated[r.request_id] for r in rows if r.request_id in rated]
        assert arm.quality["feedback"] == pytest.approx(np.mean(scores))
        assert arm.cost_per_1k is None
    assert result.arm("student").errors == 2 and result.arm("teacher").errors == 0
    assert result.dataset["requests"] == 32 and result.dataset["shadow pairs"] == 30
    assert result.dataset["feedback"] == 30

    # Agreement: the student's answer against the teacher's, on the same input.
    pairs = [(by_id[s.pair_id or ""], s) for s in shadows]
    expected = []
    for first, second in pairs:
        c, t = (first, second) if first.arm == "teacher" else (second, first)
        assert c.answer is not None and t.answer is not None
        expected.append(token_f1(t.answer, [c.answer]) if c.answer else math.nan)
    assert result.arm("student").quality["agreement"] == pytest.approx(np.nanmean(expected))
    assert math.isnan(result.arm("teacher").quality["agreement"])

    # Unpaired CIs between arms; paired over the shadow pairs.
    lat = result.comparison("latency_ms", "student", "teacher")
    ms = {a: [r.total_ms for r in served if r.arm == a and r.error is None] for a in ("teacher", "student")}  # fmt: skip
    again = bootstrap_difference(ms["teacher"], ms["student"], n_resamples=300)
    assert (lat.diff, lat.low, lat.high) == pytest.approx((again.mean, again.low, again.high))
    assert lat.diff == pytest.approx(np.mean(ms["student"]) - np.mean(ms["teacher"]))
    feedback = result.comparison("feedback", "student", "teacher")
    assert feedback.diff == pytest.approx(result.arm("student").quality["feedback"] - result.arm("teacher").quality["feedback"])  # fmt: skip
    error = result.comparison("error", "student", "teacher")
    assert error.diff == pytest.approx(2 / result.arm("student").n)
    paired = result.comparison("shadow_latency_ms", "student", "teacher")
    diffs = [(t.total_ms or 0) - (c.total_ms or 0) for c, t in
             (((a, b) if a.arm == "teacher" else (b, a)) for a, b in pairs)]  # fmt: skip
    assert paired.diff == pytest.approx(np.mean(diffs)) and paired.low <= paired.diff <= paired.high

    notes = " ".join(result.notes)
    assert "30 assigned by key" in notes and "2 forced" in notes
    assert "2 failed treatment requests were answered by the control" in notes
    assert "unpaired bootstrap" in notes and "No guardrail trips" in notes
    assert result.arm("student").differs == ["reranker", "generator"]
    assert len(result.examples) == 12

    html = write_report(result, tmp_path / "report.html").read_text()
    assert "(online)" in html and "shadow_latency_ms" in html and "questions are not logged" in html
    back = PipelineABResult.from_json(result.to_json(tmp_path / "ab.json"))
    assert json.dumps(back.to_dict()) == json.dumps(result.to_dict())
    assert "pipeline A/B tiny-online (online)" in result.summary()


def test_the_report_command_writes_json_and_html(log_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = CliRunner().invoke(report_command, [str(log_path), "--out", str(out), "--n-bootstrap", "50"])  # fmt: skip
    assert run.exit_code == 0, run.output
    assert (out / "ab.json").is_file() and (out / "report.html").is_file()
    assert "control = teacher" in run.output and "student" in run.output
    assert json.loads((out / "ab.json").read_text())["source"] == "online"


def test_a_log_with_nothing_served_or_no_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        report_from_log(tmp_path / "missing.sqlite")
    RequestLog(tmp_path / "empty.sqlite").close()
    with pytest.raises(ConfigError, match="no served requests"):
        report_from_log(tmp_path / "empty.sqlite")
