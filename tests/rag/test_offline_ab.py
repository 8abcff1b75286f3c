"""The offline pipeline A/B on tiny real models: arms, ablation, resume, report."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from ragdistill.datasets import RetrievalDataset
from ragdistill.errors import ConfigError
from ragdistill.rag.components import ComponentPool
from ragdistill.rag.offline import run_offline_ab
from ragdistill.rag.report import write_report
from ragdistill.rag.result import PipelineABResult
from ragdistill.rag.spec import parse_spec


def test_every_arm_and_the_ablation_answer_every_question(
    two_arm_spec: dict[str, Any], qa_dataset: RetrievalDataset, tmp_path: Path
) -> None:
    spec = parse_spec(two_arm_spec)
    qids = list(qa_dataset.queries)
    result = run_offline_ab(spec, qa_dataset, qids, tmp_path, show_progress=False, n_bootstrap=200)

    names = [a.name for a in result.arms]
    assert names == ["teacher", "student", "teacher+reranker", "teacher+generator"]
    assert result.ablation == ["teacher+reranker", "teacher+generator"]
    assert result.arm("teacher+reranker").differs == ["reranker"]
    for arm in result.arms:
        assert arm.n == len(qids) and arm.errors == 0
        assert 0 <= arm.quality["context_recall"] <= 1
        assert 0 <= arm.quality["ndcg@10"] <= 1
        assert arm.latency_ms["p50"] > 0 and arm.cost_per_1k is not None
    # The control scores no agreement with itself; every other arm does.
    assert math.isnan(result.arm("teacher").quality["agreement"])
    assert not math.isnan(result.arm("student").quality["agreement"])
    # The reranker-less arms skip that stage; the others time it.
    assert "reranker" in result.arm("teacher").stage_ms
    assert "reranker" not in result.arm("student").stage_ms
    # Same components on the same inputs: the generator-swapped arm retrieves exactly
    # as the control does, so its retrieval scores are identical.
    assert result.arm("teacher+generator").quality["ndcg@10"] == result.arm("teacher").quality["ndcg@10"]  # fmt: skip
    metrics = {(c.arm, c.metric) for c in result.comparisons}
    assert ("student", "f1") in metrics and ("student", "latency_ms") in metrics

    report = write_report(result, tmp_path / "report.html")
    html = report.read_text()
    assert "Ablation" in html and "end-to-end speed" in html and "data:image/png" in html
    again = PipelineABResult.from_json(result.to_json(tmp_path / "ab.json"))
    assert json.dumps(again.to_dict()) == json.dumps(result.to_dict())


def test_a_rerun_resumes_and_a_changed_arm_starts_afresh(
    two_arm_spec: dict[str, Any], qa_dataset: RetrievalDataset, tmp_path: Path
) -> None:
    spec = parse_spec({**two_arm_spec, "ablate": False})
    qids = list(qa_dataset.queries)
    pool = ComponentPool()
    run_offline_ab(spec, qa_dataset, qids[:3], tmp_path, pool=pool, warmup=0, show_progress=False)
    log = tmp_path / "answers" / "student.jsonl"
    first = [json.loads(x) for x in log.read_text().splitlines()[1:]]
    # A kill mid-write leaves a cut line: it is skipped and that question redone.
    with log.open("a") as fh:
        fh.write('{"qid": "q3", "answ')
    run_offline_ab(spec, qa_dataset, qids, tmp_path, pool=pool, warmup=0, show_progress=False)
    rows = [json.loads(x) for x in log.read_text().splitlines()[1:]]
    assert [r["qid"] for r in rows] == qids
    assert rows[:3] == first  # answered once, kept as they were

    changed = {**two_arm_spec, "ablate": False, "max_new_tokens": 3}
    run_offline_ab(parse_spec(changed), qa_dataset, qids[:2], tmp_path, pool=pool, warmup=0,
                   show_progress=False)  # fmt: skip
    assert len(log.read_text().splitlines()) == 3  # header + the 2 new answers
    assert list((tmp_path / "answers").glob("student.*.stale"))


def test_a_run_stopped_by_its_time_limit_says_it_is_partial(
    two_arm_spec: dict[str, Any], qa_dataset: RetrievalDataset, tmp_path: Path
) -> None:
    spec = parse_spec({**two_arm_spec, "ablate": False})
    result = run_offline_ab(spec, qa_dataset, list(qa_dataset.queries), tmp_path, warmup=0,
                            max_minutes=0, show_progress=False)  # fmt: skip
    assert any("partial run" in n for n in result.notes)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"arms": {"a": {"reranker": {"model": "x"}}}}, "needs an [arms.a.embedder]"),
        (
            {"arms": {"a": {"embedder": {"model": "x"}, "retriever": {"model": "y"}}}},
            "unknown stage retriever",
        ),
        ({"arms": {"a": {"embedder": {"batch_size": 2}}}}, "exactly one of `artifact`"),
        ({"arms": {"a": {"embedder": {"model": "x"}}}, "control": "b"}, "names no arm"),
        ({"arms": {"a": {"embedder": {"model": "x"}}}, "ablate": True}, "needs a second arm"),
        ({"arms": {"a": {"embedder": {"model": "x"}}}, "contxts": 2}, "did you mean 'contexts'"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_problem(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_spec(change)


def test_a_key_written_in_a_spec_is_refused_without_echoing_it() -> None:
    key = "sk-proj-" + "a1B2c3D4" * 5
    spec = {"arms": {"a": {"embedder": {"model": "x"}, "generator": {"kind": "openai", "model": "m", "api_key": key}}}}  # fmt: skip
    with pytest.raises(ConfigError, match="api_key_env") as caught:
        parse_spec(spec)
    assert key not in str(caught.value)
