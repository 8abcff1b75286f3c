"""What a generator A/B measured, as plain data that round-trips through JSON.

Arms (``teacher``, ``student``, ``baseline`` = the student before distillation, and any
others) answer the same prompts; :func:`build_result` scores every answer and pairs
the arms example by example.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ragdistill.ab.result import Comparison, ResultFile
from ragdistill.evaluation.bootstrap import bootstrap_mean, paired_bootstrap
from ragdistill.stages.generator.examples import GenerationExample
from ragdistill.stages.generator.metrics import (
    answer_length,
    exact_match,
    groundedness,
    is_abstention,
    token_f1,
)
from ragdistill.stages.generator.speed import SpeedStats

TEACHER, STUDENT, BASELINE = "teacher", "student", "baseline"
#: ``(arm, reference)``: each difference is ``arm - reference``, when both arms ran.
PAIRS = ((STUDENT, TEACHER), (STUDENT, BASELINE), (BASELINE, TEACHER))
QUALITY = ("em", "f1", "groundedness")
#: Per-example series; nan where an example is not scored (see :func:`build_result`).
SERIES = ("em", "f1", "agreement", "groundedness", "abstained", "length")
CONFIDENCE = 0.95


@dataclass
class GenerationArm:
    """One arm's scores. ``per_example`` lists align with the result's ``example_ids``."""

    name: str
    component: dict[str, Any]
    #: Means: em, f1, agreement, groundedness, abstained (share of all answers),
    #: abstention_rate (on unanswerable examples), false_abstention_rate (on answerable
    #: ones), answer_length (words); nan where no example qualifies.
    metrics: dict[str, float] = field(default_factory=dict)
    #: Bootstrap CI of each quality mean: ``{metric: [low, high]}``.
    metric_ci: dict[str, list[float]] = field(default_factory=dict)
    per_example: dict[str, list[float]] = field(default_factory=dict)
    #: n, scored (with gold answers), answerable, unanswerable, abstained, grounded.
    counts: dict[str, int] = field(default_factory=dict)
    #: :class:`SpeedStats` as a dict, when the arm was timed.
    speed: dict[str, Any] | None = None
    #: Every answer was read from the arm's store (the teacher's: its labelling store),
    #: none generated in this run; its speed was still timed on the model.
    outputs_cached: bool = False

    def speed_stats(self) -> SpeedStats | None:
        return SpeedStats.from_dict(self.speed) if self.speed is not None else None


@dataclass
class GenerationABResult(ResultFile):
    dataset: dict[str, Any]
    settings: dict[str, Any]
    example_ids: list[str]
    arms: dict[str, GenerationArm]
    comparisons: list[Comparison] = field(default_factory=list)
    #: Per non-teacher arm: ``ttft_speedup`` (teacher TTFT p50 / the arm's) and
    #: ``tokens_per_s_ratio`` (the arm's decode rate / the teacher's).
    speed_ratios: dict[str, dict[str, float | None]] = field(default_factory=dict)
    #: ``prompts`` that lost passages to the prompt budget, ``passages`` dropped in all.
    dropped: dict[str, int] = field(default_factory=dict)
    #: Side-by-side answers: id, question, answers, answerable, dropped, outputs, f1.
    sample: list[dict[str, Any]] = field(default_factory=list)
    created: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationABResult:
        return cls(
            dataset=data["dataset"],
            settings=data["settings"],
            example_ids=list(data["example_ids"]),
            arms={k: GenerationArm(**v) for k, v in data["arms"].items()},
            comparisons=[Comparison(**c) for c in data.get("comparisons", [])],
            speed_ratios=data.get("speed_ratios", {}),
            dropped=data.get("dropped", {}),
            sample=data.get("sample", []),
            created=data.get("created", ""),
        )

    def speedup(self, arm: str = STUDENT) -> float | None:
        """Teacher's median time to first token over ``arm``'s."""
        return self.speed_ratios.get(arm, {}).get("ttft_speedup")

    def summary(self) -> str:
        """A plain-text table for the terminal."""
        c = next(iter(self.arms.values())).counts if self.arms else {}
        lines = [
            f"dataset {self.dataset.get('name', '?')}: {len(self.example_ids)} examples "
            f"({c.get('scored', 0)} with gold answers, {c.get('unanswerable', 0)} unanswerable); "
            f"abstention reply {self.settings.get('abstain', '')!r}"
        ]
        head = ["EM", "F1", "agree", "ground", "abstain", "false ab", "len", "TTFT ms", "tok/s"]
        width = max([12, *(len(n) + 2 for n in self.arms)])
        lines.append(f"{'arm':{width}}" + "".join(f"{h:>9}" for h in head) + f"{'params':>10}")
        for name, arm in self.arms.items():
            m, s = arm.metrics, arm.speed or {}
            cells = [_f(m.get(k), ".4f") for k in ("em", "f1", "agreement", "groundedness")]
            cells += [_f(m.get(k), ".3f") for k in ("abstention_rate", "false_abstention_rate")]
            cells += [_f(m.get("answer_length"), ".1f"), _f(s.get("ttft_p50_ms"), ".1f")]
            cells += [_f(s.get("tokens_per_s"), ".1f")]
            params = _count(s.get("parameters"))
            lines.append(f"{name:{width}}" + "".join(f"{v:>9}" for v in cells) + f"{params:>10}")
        lines.append(
            "abstain: share of unanswerable examples abstained on (right); false ab: share of "
            "answerable ones (wrong); len: words"
        )
        if self.comparisons:
            lines.append(f"differences (mean, {CONFIDENCE:.0%} paired bootstrap CI; * excludes 0):")
        for comp in self.comparisons:
            mark = " *" if comp.significant else ""
            lines.append(
                f"  {comp.arm} - {comp.reference} {comp.metric}: {comp.diff:+.4f} "
                f"[{comp.low:+.4f}, {comp.high:+.4f}]{mark}"
            )
        for name, ratios in self.speed_ratios.items():
            lines.append(
                f"{name} vs teacher: time to first token {_f(ratios.get('ttft_speedup'), '.2f')}x "
                f"faster, {_f(ratios.get('tokens_per_s_ratio'), '.2f')}x the decode rate"
            )
        if self.dropped.get("passages"):
            lines.append(
                f"{self.dropped['passages']} passages dropped to fit the prompt budget, in "
                f"{self.dropped.get('prompts', 0)} of {len(self.example_ids)} prompts"
            )
        return "\n".join(lines)


def build_result(
    examples: Sequence[GenerationExample],
    answers: Mapping[str, Sequence[str]],
    *,
    abstain: str,
    speed: Mapping[str, SpeedStats],
    describe: Mapping[str, dict[str, Any]],
    dataset: Mapping[str, Any],
    dropped_contexts: Sequence[int],
    bootstrap: int = 1000,
    sample: int = 20,
    seed: int = 0,
    cached: Mapping[str, bool] | None = None,
) -> GenerationABResult:
    """Score each arm's answers (``answers[arm][i]`` answers ``examples[i]``).

    EM and F1 are scored on examples with gold answers whose ``answerable`` is not
    ``False``; agreement is the token F1 of an arm's answer against the teacher's (nan
    for the teacher itself); groundedness skips empty answers and abstentions (the
    prompt's ``abstain`` reply or a refusal, :func:`is_abstention`). Abstaining is right
    on ``answerable is False`` examples (``abstention_rate``) and wrong on
    ``answerable is True`` ones (``false_abstention_rate``). Differences are paired
    over the examples both arms are scored on, with a ``bootstrap``-resample percentile
    CI; ``sample`` examples, chosen with ``seed``, are kept side by side. ``cached``
    names the arms whose answers were all read from a store (none generated).
    """
    exs = list(examples)
    if not answers:
        raise ValueError("build_result needs the answers of at least one arm")
    for name, outs in answers.items():
        if len(outs) != len(exs):
            raise ValueError(f"arm {name!r} has {len(outs)} answers for {len(exs)} examples")
    if len(dropped_contexts) != len(exs):
        raise ValueError(
            f"dropped_contexts has {len(dropped_contexts)} entries for {len(exs)} examples"
        )
    teacher = answers.get(TEACHER)
    arms: dict[str, GenerationArm] = {}
    for name, outs in answers.items():
        ref = teacher if name != TEACHER else None
        per = _per_example(exs, list(outs), ref, abstain)
        stats = speed.get(name)
        arms[name] = GenerationArm(
            name=name,
            component=dict(describe.get(name, {})),
            metrics=_means(exs, per),
            metric_ci=_cis(per, bootstrap, seed),
            per_example=per,
            counts=_counts(exs, per),
            speed=stats.to_dict() if stats is not None else None,
            outputs_cached=bool((cached or {}).get(name, False)),
        )
    picked = sorted(random.Random(seed).sample(range(len(exs)), min(sample, len(exs))))
    settings = {"abstain": abstain, "n_bootstrap": bootstrap, "confidence": CONFIDENCE}
    settings.update(seed=seed, sample=sample)
    dropped = {"prompts": sum(1 for d in dropped_contexts if d > 0)}
    dropped["passages"] = int(sum(dropped_contexts))
    return GenerationABResult(
        dataset=dict(dataset),
        settings=settings,
        example_ids=[e.id for e in exs],
        arms=arms,
        comparisons=_comparisons(arms, bootstrap, seed),
        speed_ratios=_speed_ratios(speed),
        dropped=dropped,
        sample=[_sample_row(exs[i], i, answers, arms, dropped_contexts[i]) for i in picked],
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def _per_example(
    exs: list[GenerationExample], outs: list[str], teacher: Sequence[str] | None, abstain: str
) -> dict[str, list[float]]:
    per: dict[str, list[float]] = {k: [] for k in SERIES}
    for i, (ex, answer) in enumerate(zip(exs, outs)):
        scored = bool(ex.answers) and ex.answerable is not False
        per["em"].append(exact_match(answer, ex.answers) if scored else math.nan)
        per["f1"].append(token_f1(answer, ex.answers) if scored else math.nan)
        per["agreement"].append(token_f1(answer, [teacher[i]]) if teacher else math.nan)
        per["groundedness"].append(groundedness(answer, ex.contexts, abstain=abstain))
        per["abstained"].append(float(is_abstention(answer, abstain)))
        per["length"].append(float(answer_length(answer)))
    return per


def _mean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return math.fsum(kept) / len(kept) if kept else math.nan


def _means(exs: list[GenerationExample], per: dict[str, list[float]]) -> dict[str, float]:
    out = {k: _mean(per[k]) for k in ("em", "f1", "agreement", "groundedness", "abstained")}
    abst = per["abstained"]
    out["abstention_rate"] = _mean([a for a, e in zip(abst, exs) if e.answerable is False])
    out["false_abstention_rate"] = _mean([a for a, e in zip(abst, exs) if e.answerable is True])
    out["answer_length"] = _mean(per["length"])
    return out


def _cis(per: dict[str, list[float]], bootstrap: int, seed: int) -> dict[str, list[float]]:
    out = {}
    for metric in (*QUALITY, "agreement"):
        kept = [v for v in per[metric] if not math.isnan(v)]
        if kept:
            ci = bootstrap_mean(kept, n_resamples=bootstrap, confidence=CONFIDENCE, seed=seed)
            out[metric] = [ci.low, ci.high]
    return out


def _counts(exs: list[GenerationExample], per: dict[str, list[float]]) -> dict[str, int]:
    return {
        "n": len(exs),
        "scored": sum(not math.isnan(v) for v in per["f1"]),
        "answerable": sum(e.answerable is True for e in exs),
        "unanswerable": sum(e.answerable is False for e in exs),
        "abstained": int(sum(per["abstained"])),
        "grounded": sum(not math.isnan(v) for v in per["groundedness"]),
    }


def _comparisons(arms: dict[str, GenerationArm], bootstrap: int, seed: int) -> list[Comparison]:
    out = []
    for arm, ref in PAIRS:
        if arm not in arms or ref not in arms:
            continue
        metrics = (*QUALITY, "agreement") if (arm, ref) == (STUDENT, BASELINE) else QUALITY
        for metric in metrics:
            pairs = [
                (r, a)
                for a, r in zip(arms[arm].per_example[metric], arms[ref].per_example[metric])
                if not (math.isnan(a) or math.isnan(r))
            ]
            if not pairs:
                continue
            ci = paired_bootstrap(
                [r for r, _ in pairs], [a for _, a in pairs],
                n_resamples=bootstrap, confidence=CONFIDENCE, seed=seed,
            )  # fmt: skip
            out.append(Comparison(metric, arm, ref, ci.mean, ci.low, ci.high, ci.confidence))
    return out


def _speed_ratios(speed: Mapping[str, SpeedStats]) -> dict[str, dict[str, float | None]]:
    t = speed.get(TEACHER)
    if t is None:
        return {}
    return {
        name: {
            "ttft_speedup": _ratio(t.ttft_p50_ms, s.ttft_p50_ms),
            "tokens_per_s_ratio": _ratio(s.tokens_per_s, t.tokens_per_s),
        }
        for name, s in speed.items()
        if name != TEACHER
    }


def _ratio(a: float, b: float) -> float | None:
    if math.isnan(a) or math.isnan(b) or b <= 0:
        return None
    return a / b


def _sample_row(
    ex: GenerationExample,
    i: int,
    answers: Mapping[str, Sequence[str]],
    arms: dict[str, GenerationArm],
    dropped: int,
) -> dict[str, Any]:
    return {
        "id": ex.id,
        "question": ex.question,
        "answers": list(ex.answers),
        "answerable": ex.answerable,
        "dropped": int(dropped),
        "outputs": {name: answers[name][i] for name in arms},
        "f1": {name: arm.per_example["f1"][i] for name, arm in arms.items()},
    }


def _f(value: float | int | None, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def _count(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return str(value)
