"""What a retrieval A/B measured, as plain data that round-trips through JSON."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from ragdistill.ab.headline import speed_ratio
from ragdistill.ab.result import Comparison, ResultFile


@dataclass
class ArmResult:
    """One embedder's results. ``per_query`` lists align with :attr:`ABResult.query_ids`."""

    name: str
    embedder: dict[str, Any]
    fingerprint: str
    collection: str
    #: What the arm is: ``teacher``, ``student``, ``baseline`` (the student before
    #: distillation), ``reference`` (a model the user could pick instead) or
    #: ``candidate`` (one student of a sweep).
    role: str = "candidate"
    #: The model name or folder the embedder loaded, when it names one.
    model: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    #: 95% bootstrap CI of each metric's mean: ``{metric: [low, high]}``.
    metric_ci: dict[str, list[float]] = field(default_factory=dict)
    per_query: dict[str, list[float]] = field(default_factory=dict)
    #: ``{"encode"|"search"|"total": {"p50_ms", "p95_ms", "mean_ms", "n"}}``.
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    latency_ms: list[float] = field(default_factory=list)
    throughput_texts_per_s: float | None = None
    #: Queries per second encoding the evaluated queries in batches.
    query_throughput_per_s: float | None = None
    #: Every round of the interleaved speed measurement (the two rates above are their
    #: medians): how steady the machine was. Empty in results written before rounds.
    throughput_rounds: list[float] = field(default_factory=list)
    query_throughput_rounds: list[float] = field(default_factory=list)
    model_size_bytes: int | None = None
    parameters: int | None = None
    #: Bytes of the weights held in memory (parameters and buffers, or the ONNX graph).
    weights_bytes: int | None = None
    #: Resident-memory growth while encoding the throughput passages: activations.
    peak_memory_bytes: int | None = None
    index_seconds: float | None = None
    index_stats: dict[str, int] = field(default_factory=dict)
    #: The arm's index was built through its output cache (``index_embedders``), not by
    #: its own model in this run: its index time and memory growth are not the model's.
    outputs_cached: bool = False

    def query_speedup(self, base: ArmResult | None) -> float | None:
        """How many times faster this arm encodes queries than ``base`` (see
        :func:`round_speedup`); None when a rate is missing."""
        if base is None:
            return None
        return round_speedup(self.query_throughput_rounds, base.query_throughput_rounds,
                             self.query_throughput_per_s, base.query_throughput_per_s)  # fmt: skip

    def passage_speedup(self, base: ArmResult | None) -> float | None:
        """The same for encoding passages (what indexing a corpus costs)."""
        if base is None:
            return None
        return round_speedup(self.throughput_rounds, base.throughput_rounds,
                             self.throughput_texts_per_s, base.throughput_texts_per_s)  # fmt: skip


def round_speedup(
    mine: list[float], theirs: list[float], rate: float | None, base_rate: float | None
) -> float | None:
    """One arm's rate over another's. Arms measured in the same rounds are compared round
    by round and the median ratio counts, so load that drifts from one round to the next
    cancels; otherwise (results written before rounds) the ratio of the two rates."""
    if mine and len(mine) == len(theirs):
        ratios = [r for a, b in zip(mine, theirs) if (r := speed_ratio(a, b)) is not None]
        if ratios:
            return statistics.median(ratios)
    return speed_ratio(rate, base_rate)


@dataclass
class ABResult(ResultFile):
    dataset: dict[str, Any]
    settings: dict[str, Any]
    query_ids: list[str]
    arms: dict[str, ArmResult]
    comparisons: list[Comparison] = field(default_factory=list)
    #: ``{"student": {"overlap@10": {"mean", "low", "high"}}}``: top-k agreement with the teacher.
    agreement: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    created: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ABResult:
        return cls(
            dataset=data["dataset"],
            settings=data["settings"],
            query_ids=list(data["query_ids"]),
            arms={k: ArmResult(**{"role": _role(k), **v}) for k, v in data["arms"].items()},
            comparisons=[Comparison(**c) for c in data.get("comparisons", [])],
            agreement=data.get("agreement", {}),
            created=data.get("created", ""),
        )

    def summary(self) -> str:
        """A plain-text table for the terminal."""
        names = list(self.arms)
        metrics = list(next(iter(self.arms.values())).metrics) if self.arms else []
        lines = [f"dataset {self.dataset.get('name')}: {len(self.query_ids)} queries"]
        lines.append(f"{'':14}" + "".join(f"{n:>14}" for n in names))
        for m in metrics:
            lines.append(f"{m:14}" + "".join(f"{self.arms[n].metrics[m]:>14.4f}" for n in names))
        for key, label in (("p50_ms", "p50 ms"), ("p95_ms", "p95 ms")):
            row = [self.arms[n].latency.get("total", {}).get(key, float("nan")) for n in names]
            lines.append(f"{label:14}" + "".join(f"{v:>14.2f}" for v in row))
        tput = [self.arms[n].throughput_texts_per_s or float("nan") for n in names]
        lines.append(f"{'passages/s':14}" + "".join(f"{v:>14.1f}" for v in tput))
        qput = [self.arms[n].query_throughput_per_s or float("nan") for n in names]
        lines.append(f"{'queries/s':14}" + "".join(f"{v:>14.1f}" for v in qput))
        for c in self.comparisons:
            mark = " *" if c.significant else ""
            lines.append(
                f"{c.arm} - {c.reference} {c.metric}: {c.diff:+.4f} "
                f"[{c.low:+.4f}, {c.high:+.4f}]{mark}"
            )
        return "\n".join(lines)


def _role(name: str) -> str:
    """The role of an arm in a result written before arms had one."""
    return name if name in ("teacher", "student", "baseline") else "candidate"
