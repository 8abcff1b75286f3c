"""The offline pipeline A/B: every arm answers the same questions, one at a time.

Arms are interleaved question by question (their order rotating), so load on a shared
machine falls on every arm alike and "x times faster" is a ratio from one run. Each
answer is appended to ``OUT/answers/<arm>.jsonl`` as soon as it exists: a killed run
resumes where it stopped, and a run spread over several sessions measures every
question live. A stage several arms share (the same component on the same input) runs
once per question; the arms that reuse it carry the time it took.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ragdistill.contracts import Generator
from ragdistill.contracts.messages import Message
from ragdistill.rag.components import ComponentPool, describe
from ragdistill.rag.metrics import ArmSummary, paired_differences, score_answer, summarise
from ragdistill.rag.pipeline import Corpus, Memo, PipelineAnswer, RagPipeline, build_pipeline
from ragdistill.rag.result import PipelineABResult
from ragdistill.rag.spec import PipelineSpec

COMPARED = ("f1", "em", "agreement", "context_recall", "ndcg@10", "groundedness", "latency_ms")


class AnswerLog:
    """One arm's answers, one JSON line each, flushed and synced as written.

    The first line holds the arm's fingerprint (its components and the spec's settings):
    answers of an arm whose spec changed are set aside (``.stale``), never mixed in.
    """

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        self.set_aside: Path | None = None
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()
            header = _json(lines[0]) if lines else None
            if header and header.get("fingerprint") == fingerprint:
                for line in lines[1:]:
                    record = _json(line)  # a line cut by a kill is skipped, then redone
                    if record and "qid" in record:
                        self.records[record["qid"]] = record
                self._rewrite(fingerprint)
                return
            self.set_aside = path.with_suffix(f".{int(time.time())}.stale")
            path.replace(self.set_aside)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._rewrite(fingerprint)

    def _rewrite(self, fingerprint: str) -> None:
        # Rewritten whole (without any cut-off line), atomically, before appending.
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps({"fingerprint": fingerprint}) + "\n")
            for record in self.records.values():
                fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)

    def append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.records[record["qid"]] = record


def arm_fingerprint(spec: PipelineSpec, arm: str, dataset_id: str) -> str:
    components = spec.arms_with_ablation()[arm]
    blob = {
        "components": {s: c.key() for s, c in sorted(components.items())},
        "k": spec.k,
        "contexts": spec.contexts,
        "max_new_tokens": spec.max_new_tokens,
        "context_chars": spec.context_chars,
        "prompt": spec.prompt,
        "dataset": dataset_id,
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def run_offline_ab(
    spec: PipelineSpec,
    dataset: Any,
    question_ids: Sequence[str],
    out: Path,
    *,
    histories: Mapping[str, Sequence[Message]] | None = None,
    pool: ComponentPool | None = None,
    warmup: int = 2,
    n_bootstrap: int = 1000,
    seed: int = 0,
    show_progress: bool = True,
    max_minutes: float | None = None,
) -> PipelineABResult:
    """Run (or resume) every arm of ``spec`` on ``question_ids`` of ``dataset`` (a
    :class:`~ragdistill.datasets.RetrievalDataset`); return the summarised result.

    With ``max_minutes`` the run stops starting new questions after that long and
    summarises what is done (a later call resumes); the result then says how many
    questions each arm answered.
    """
    from tqdm.auto import tqdm

    from ragdistill.evaluation.measure import peak_memory_during

    if not question_ids:
        raise ValueError("the pipeline A/B needs at least one question")
    out = Path(out)
    pool = pool or ComponentPool()
    corpus = Corpus.from_dataset(dataset)
    dataset_id = f"{dataset.name}:{len(corpus)}"
    names = spec.arm_names()
    pipes = {n: build_pipeline(spec, n, corpus, index_dir=out / "index", pool=pool,
                               show_progress=show_progress) for n in names}  # fmt: skip
    logs = {n: AnswerLog(out / "answers" / f"{_safe(n)}.jsonl",
                         arm_fingerprint(spec, n, dataset_id)) for n in names}  # fmt: skip
    histories = histories or {}
    for pipe in pipes.values():  # lazy initialisation stays out of the timings
        for qid in question_ids[:warmup]:
            pipe.answer(dataset.queries[qid], histories.get(qid, ()))
    todo = [q for q in question_ids if any(q not in logs[n].records for n in names)]
    start = time.monotonic()
    with tqdm(total=len(question_ids), initial=len(question_ids) - len(todo),
              desc="pipeline A/B", unit="question", disable=not show_progress) as bar:  # fmt: skip
        for i, qid in enumerate(todo):
            if max_minutes is not None and time.monotonic() - start > max_minutes * 60:
                break
            memo: Memo = {}
            rotated = names[i % len(names) :] + names[: i % len(names)]
            for name in rotated:
                if qid in logs[name].records:
                    continue
                record = _answer_one(pipes[name], dataset.queries[qid], histories.get(qid, ()),
                                     memo, peak_memory_during)  # fmt: skip
                logs[name].append({"qid": qid, **record})
            bar.update(1)
    notes = [f"{n}: answers from an earlier spec were set aside in {log.set_aside}"
             for n, log in logs.items() if log.set_aside]  # fmt: skip
    return summarise_offline(spec, dataset, question_ids, logs, pipes, pool,
                             n_bootstrap=n_bootstrap, seed=seed, notes=notes)  # fmt: skip


def _answer_one(
    pipe: RagPipeline, question: str, history: Sequence[Message], memo: Memo, measure: Any
) -> dict[str, Any]:
    try:
        answer, peak = measure(lambda: pipe.answer(question, history, memo=memo))
    except Exception as exc:  # an arm's failure is data: counted, shown, never fatal
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return {"answer": None, "peak_bytes": None, "error": last}
    return {"answer": answer.to_dict(), "peak_bytes": peak, "error": None}


def summarise_offline(
    spec: PipelineSpec,
    dataset: Any,
    question_ids: Sequence[str],
    logs: Mapping[str, AnswerLog],
    pipes: Mapping[str, RagPipeline],
    pool: ComponentPool,
    *,
    n_bootstrap: int,
    seed: int,
    notes: list[str],
) -> PipelineABResult:
    control = spec.control_arm
    arms_specs = spec.arms_with_ablation()
    answered = {n: _answers(logs[n], question_ids) for n in logs}
    control_text = {q: a.answer for q, a in answered[control].items()}
    scores: dict[str, dict[str, dict[str, float]]] = {}
    summaries: list[ArmSummary] = []
    for name, answers in answered.items():
        per_q = {}
        for qid, ans in answers.items():
            s = score_answer(
                ans,
                golds=dataset.answers.get(qid, ()),
                relevant=dataset.qrels.get(qid),
                sources=dataset.sources.get(qid, ()),
                control_answer=control_text.get(qid) if name != control else None,
                abstain=pipes[name].prompt.abstain,
            )
            s["latency_ms"] = ans.total_s * 1000
            per_q[qid] = s
        scores[name] = per_q
        errors = sum(1 for q in question_ids if (logs[name].records.get(q) or {}).get("error"))
        summary = summarise(name, list(answers.values()), list(per_q.values()), errors=errors,
                            hardware_per_hour=spec.cost.hardware_per_hour,
                            specs=arms_specs[name])  # fmt: skip
        peaks = [r["peak_bytes"] for r in logs[name].records.values() if r.get("peak_bytes")]
        summary.peak_memory_bytes = max(peaks) if peaks else None
        loads = [b.load_bytes for b in pipes[name].stages.values()]
        summary.model_memory_bytes = None if None in loads else sum(loads)  # type: ignore[arg-type]
        summary.components = {s: describe(b) for s, b in pipes[name].stages.items()}
        summary.differs = spec.differing_stages(name) if name != control else []
        summaries.append(summary)
    comparisons = []
    for name in answered:
        if name == control:
            continue
        comparisons += paired_differences(name, control, scores[name], scores[control], COMPARED,
                                          n_resamples=n_bootstrap, seed=seed)  # fmt: skip
    stored = {(stage, info["source"]): info["index_s"] for a in summaries
              for stage, info in a.components.items() if info.get("stores_documents")}  # fmt: skip
    for (stage, source), seconds in stored.items():
        when = (f"indexing took {seconds:.0f} s" if seconds >= 1
                else "read back from its saved document index")  # fmt: skip
        notes.append(f"the {stage} {source} stores every document's vectors ahead ({when}, not "
                     "counted in latency) and encodes only the query; a "
                     f"{stage} that re-reads every candidate (a cross-encoder, a bi-encoder "
                     "ensemble) does not, so their latencies are not like for like")  # fmt: skip
    for a in summaries:
        cap = ((a.components.get(Generator.stage) or {}).get("options") or {}).get("max_new_tokens")
        if isinstance(cap, int) and cap < spec.max_new_tokens:
            notes.append(f"{a.name}: its generator caps answers at {cap} new tokens (its own "
                         f"max_new_tokens), below the spec's {spec.max_new_tokens}; its answers "
                         "are shorter and faster for that reason alone")  # fmt: skip
    done = {n: len(a) for n, a in answered.items()}
    if any(v < len(question_ids) for v in done.values()):
        notes.append(f"partial run: answered {done} of {len(question_ids)} questions; "
                     "run the same command again to resume")  # fmt: skip
    ablation = [n for n in spec.arm_names() if n not in spec.arms]
    return PipelineABResult(
        name=spec.name, source="offline", control=control, treatment=spec.treatment,
        arms=summaries, comparisons=comparisons, ablation=ablation,
        dataset={**dataset.stats(), "evaluated_questions": len(question_ids)},
        currency=spec.cost.currency, hardware_per_hour=spec.cost.hardware_per_hour,
        notes=notes, examples=_examples(answered, dataset, question_ids[:12]),
    )  # fmt: skip


def _answers(log: AnswerLog, question_ids: Sequence[str]) -> dict[str, PipelineAnswer]:
    out = {}
    for qid in question_ids:
        record = log.records.get(qid)
        if record and record.get("answer"):
            out[qid] = PipelineAnswer.from_dict(record["answer"])
    return out


def _examples(
    answered: Mapping[str, Mapping[str, PipelineAnswer]], dataset: Any, qids: Sequence[str]
) -> list[dict[str, Any]]:
    rows = []
    for qid in qids:
        row: dict[str, Any] = {"question": dataset.queries[qid],
                               "gold": list(dataset.answers.get(qid, ()))[:3], "arms": {}}  # fmt: skip
        for name, answers in answered.items():
            ans = answers.get(qid)
            if ans is not None:
                row["arms"][name] = {"answer": ans.answer, "contexts": [c.doc_id for c in ans.contexts],
                                     "ms": round(ans.total_s * 1000, 1)}  # fmt: skip
        rows.append(row)
    return rows


def _json(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
