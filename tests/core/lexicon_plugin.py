"""A third-party stage, "lexicon", as a plugin distribution ships it (entry-point module).

``test_third_party_stage`` installs this file as the module ``rd_lexicon`` of a throwaway
distribution ``rd-lexicon`` (entry point ``lexicon`` in the ``ragdistill`` group), and
``lexicon_training.py`` beside it as ``rd_lexicon_training``; nothing in ragdistill knows
the stage. It is small but genuine:

* the contract :class:`Lexicon` scores how specific a text's words are (one float a text);
* the teacher ``idf`` computes it from a corpus folder: the mean inverse document
  frequency of the text's words;
* the student ``hashed-bow`` is a hashed bag of words (one learned weight per bucket,
  mean-pooled, plus a bias) trained with the stage's loss ``lexicon-mse`` through
  ragdistill's shared training loop (checkpoints, resume), and saved as a JSON weights
  file that the teacher ``weights`` loads back;
* the A/B compares teacher, student and the student before distillation on held-out
  texts: mean absolute error, Spearman correlation and pairwise rank agreement with the
  teacher, and paired bootstrap intervals of the per-text error;
* the dataset ``lines`` reads one text a line.

This module imports no torch: the loss and the trainable model are in the training
module, imported by the hooks and methods that need it, so ``ragdistill --help`` stays
fast with the plugin installed.
"""

from __future__ import annotations

import json
import math
import random
import re
import zlib
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import click
import numpy as np
from pydantic import Field

from ragdistill.ab.result import Comparison, ResultFile
from ragdistill.contracts import Component
from ragdistill.contracts.base import check_count, check_texts
from ragdistill.datasets import DatasetLoader, Document, RetrievalDataset
from ragdistill.errors import ConfigError
from ragdistill.hookspecs import (
    RegisterDataset,
    RegisterLoss,
    RegisterStage,
    RegisterStudent,
    RegisterTeacher,
    hookimpl,
)
from ragdistill.stage import DistillationStage, StageOptions
from ragdistill.students import Student

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ragdistill.recipes.schema import Recipe
    from ragdistill.students.model import StudentModel

STAGE = "lexicon"
WEIGHTS_FILE = "lexicon.json"
WEIGHTS_FORMAT = "rd-lexicon-weights/1"
_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lower-cased alphanumeric words."""
    return _TOKEN.findall(text.lower())


def bucket(token: str, buckets: int) -> int:
    """The weight a token shares with every token of the same hash (stable across runs)."""
    return zlib.crc32(token.encode("utf-8")) % buckets


# -- the contract -----------------------------------------------------------------------


class Lexicon(Component):
    """How specific a text's words are: one float per text, higher for rarer words.

    Implement :meth:`score_batch`; :meth:`score_many` batches and checks it.
    """

    stage: ClassVar[str] = STAGE

    @abstractmethod
    def score_batch(self, texts: list[str]) -> list[float]:
        """One score per text, in order."""

    def score_many(self, texts: Sequence[str], *, batch_size: int | None = None) -> list[float]:
        items = check_texts(texts)
        out: list[float] = []
        for batch in self._batches(items, batch_size):
            scores = [float(s) for s in self.score_batch(list(batch))]
            check_count(self, "score_batch", len(scores), len(batch))
            out.extend(scores)
        return out

    def score(self, text: str) -> float:
        return self.score_many([text])[0]


class IdfLexicon(Lexicon):
    """The teacher: the mean smoothed IDF of a text's words over a corpus folder.

    ``model`` is the folder; every file matching ``pattern`` is one document. A word the
    corpus never saw gets the highest IDF; a text without words scores 0.
    """

    def __init__(self, model: str, pattern: str = "*.txt", batch_size: int = 32) -> None:
        folder = Path(model)
        files = sorted(folder.glob(pattern)) if folder.is_dir() else []
        if not files:
            raise ConfigError(
                f"idf teacher: {folder} holds no {pattern} file; point model at a corpus folder"
            )
        document_frequency: dict[str, int] = {}
        for file in files:
            for word in set(tokens(file.read_text(encoding="utf-8"))):
                document_frequency[word] = document_frequency.get(word, 0) + 1
        n = len(files)
        self.idf = {w: math.log((1 + n) / (1 + df)) + 1 for w, df in document_frequency.items()}
        self.unseen_idf = math.log(1 + n) + 1
        self.documents = n
        self.batch_size = batch_size

    def score_batch(self, texts: list[str]) -> list[float]:
        out = []
        for text in texts:
            words = tokens(text)
            values = [self.idf.get(w, self.unseen_idf) for w in words]
            out.append(sum(values) / len(values) if values else 0.0)
        return out


class WeightsLexicon(Lexicon):
    """Loads a distilled student: ``bias + mean(weight[bucket(word)])`` from its JSON file."""

    def __init__(self, model: str, batch_size: int = 32) -> None:
        path = Path(model) / WEIGHTS_FILE
        if not path.is_file():
            raise ConfigError(f"{path} does not exist; `model` must be a lexicon artifact folder")
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != WEIGHTS_FORMAT:
            raise ConfigError(f"{path}: format {data.get('format')!r}, expected {WEIGHTS_FORMAT}")
        self.buckets = int(data["buckets"])
        self.bias = float(data["bias"])
        self.weights = np.asarray(data["weights"], dtype=np.float64)
        self.batch_size = batch_size

    @classmethod
    def folder_match(cls, folder: Path, config: Mapping[str, Any]) -> int:
        # A saved student without a manifest (the A/B's "before" arm) still loads.
        return 10 if (folder / WEIGHTS_FILE).is_file() else 0

    def score_batch(self, texts: list[str]) -> list[float]:
        out = []
        for text in texts:
            ids = [bucket(w, self.buckets) for w in tokens(text)]
            out.append(self.bias + (float(self.weights[ids].mean()) if ids else 0.0))
        return out


# -- the student, the dataset and the stage options -------------------------------------


class HashedBowStudent(Student):
    """A hashed bag of words: ``buckets`` weights drawn from N(0, init_std), bias 0."""

    stage: ClassVar[str] = STAGE
    loader: ClassVar[str] = "weights"

    def __init__(self, buckets: int = 1024, init_std: float = 0.1, seed: int = 0) -> None:
        if buckets < 1 or init_std < 0:
            raise ConfigError(f"hashed-bow: need buckets >= 1 and init_std >= 0 ({buckets=})")
        self.buckets = buckets
        self.init_std = init_std
        self.seed = seed

    def build(self) -> StudentModel:
        from rd_lexicon_training import HashedBowModel

        return HashedBowModel(self.buckets, init_std=self.init_std, seed=self.seed)


class LinesDataset(DatasetLoader):
    """Texts to distill on, one a line of ``path`` (blank lines skipped); no queries."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> RetrievalDataset:
        if not self.path.is_file():
            raise ConfigError(f"lines dataset: {self.path} does not exist")
        lines = read_lines(self.path)
        corpus = {f"line-{i}": Document(f"line-{i}", "", text) for i, text in enumerate(lines)}
        return RetrievalDataset(
            name=f"lines:{self.path.name}", corpus=corpus, queries={}, chunk_size=None
        )


def read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class LexiconOptions(StageOptions):
    """The ``[lexicon]`` table."""

    #: Fraction of the dataset's texts held out of training, for the A/B.
    holdout: float = Field(0.25, gt=0, lt=1)


def split_texts(recipe: Recipe) -> tuple[list[str], list[str], RetrievalDataset]:
    """The recipe's texts, seeded-split into (training, held out), and the dataset."""
    from ragdistill.config import build
    from ragdistill.registry import default_registry

    options = LexiconOptions.model_validate(recipe.stage_options)
    loader = build(default_registry().dataset(recipe.data.dataset), recipe.data.options, "data")
    dataset: RetrievalDataset = loader.load()
    texts = dataset.texts_for_distillation(recipe.train.max_texts, seed=recipe.train.seed)
    order = list(range(len(texts)))
    random.Random(recipe.train.seed).shuffle(order)
    n_held = max(1, round(len(texts) * options.holdout))
    if len(texts) - n_held < 2:
        raise ConfigError(
            f"{recipe.data.dataset}: {len(texts)} texts leave fewer than 2 to train on after "
            f"holding out {n_held}; add texts or lower lexicon.holdout"
        )
    held = set(order[:n_held])
    train = [t for i, t in enumerate(texts) if i not in held]
    return train, [t for i, t in enumerate(texts) if i in held], dataset


# -- the A/B ----------------------------------------------------------------------------


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho; 0 when either side is constant (no ranking to agree with)."""
    ra, rb = average_ranks(a), average_ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def pair_agreement(arm: np.ndarray, teacher: np.ndarray) -> float:
    """Of the text pairs the teacher orders, the fraction the arm orders the same way
    (a tie of the arm counts half)."""
    agree, pairs = 0.0, 0
    for i in range(len(arm)):
        for j in range(i + 1, len(arm)):
            t = np.sign(teacher[i] - teacher[j])
            if t == 0:
                continue
            s = np.sign(arm[i] - arm[j])
            agree += 1.0 if s == t else 0.5 if s == 0 else 0.0
            pairs += 1
    return agree / pairs if pairs else float("nan")


@dataclass
class LexiconABResult(ResultFile):
    """Each arm's agreement with the teacher on the same held-out texts."""

    teacher: dict[str, Any]
    arms: dict[str, dict[str, Any]]
    texts: int
    comparisons: list[Comparison]
    settings: dict[str, Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LexiconABResult:
        comparisons = [Comparison(**c) for c in data["comparisons"]]
        return cls(**{**data, "comparisons": comparisons})

    def summary(self) -> str:
        lines = [f"lexicon A/B on {self.texts} held-out texts (teacher: reference)"]
        lines.append(f"{'arm':<10}{'mae':>10}{'spearman':>10}{'pairs':>10}")
        for name, arm in self.arms.items():
            m = arm["metrics"]
            lines.append(
                f"{name:<10}{m['mae']:>10.4f}{m['spearman']:>10.3f}{m['pair_agreement']:>10.3f}"
            )
        for c in self.comparisons:
            lines.append(
                f"{c.arm} - {c.reference} {c.metric}: {c.diff:+.4f} "
                f"[{c.low:+.4f}, {c.high:+.4f}]" + (" *" if c.significant else "")
            )
        return "\n".join(lines)


def run_ab(
    teacher: Lexicon,
    arms: dict[str, Lexicon],
    texts: list[str],
    out: Path,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Path:
    """Score ``texts`` with the teacher and every arm; write ``ab.json`` and ``report.html``
    to ``out``; return the report's path. ``arms`` holds ``student`` and optionally
    ``baseline`` (the student before distillation)."""
    from ragdistill.evaluation.bootstrap import paired_bootstrap

    if "student" not in arms or not texts:
        raise ConfigError("a lexicon A/B needs a student arm and at least one text")
    reference = np.asarray(teacher.score_many(texts))
    errors: dict[str, np.ndarray] = {}
    described: dict[str, dict[str, Any]] = {}
    for name, component in arms.items():
        scores = np.asarray(component.score_many(texts))
        errors[name] = np.abs(scores - reference)
        described[name] = {
            "component": component.describe(),
            "metrics": {
                "mae": float(errors[name].mean()),
                "spearman": spearman(scores, reference),
                "pair_agreement": pair_agreement(scores, reference),
            },
            "scores": scores.tolist(),
        }
    comparisons = []
    for ref_name, ref_errors in [("teacher", np.zeros(len(texts)))] + [
        (name, errors[name]) for name in arms if name != "student"
    ]:
        ci = paired_bootstrap(ref_errors, errors["student"], n_resamples=n_bootstrap, seed=seed)
        comparisons.append(
            Comparison("abs_error", "student", ref_name, ci.mean, ci.low, ci.high, ci.confidence)
        )
    result = LexiconABResult(
        teacher={"component": teacher.describe(), "scores": reference.tolist()},
        arms=described,
        texts=len(texts),
        comparisons=comparisons,
        settings={"n_bootstrap": n_bootstrap, "seed": seed},
    )
    result.to_json(out / "ab.json")
    return write_report(result, out / "report.html")


def write_report(result: LexiconABResult, path: Path) -> Path:
    """A self-contained HTML page: the arms' metrics and the paired differences."""
    from ragdistill.ab.html import CSS, escape, table

    arms = table(
        ["arm", "mean abs. error", "Spearman rho", "pair agreement"],
        [
            [name, f"{m['mae']:.4f}", f"{m['spearman']:.3f}", f"{m['pair_agreement']:.3f}"]
            for name, m in ((n, a["metrics"]) for n, a in result.arms.items())
        ],
    )
    diffs = table(
        ["difference", "mean", "95% interval", "significant"],
        [
            [f"{c.arm} - {c.reference} {c.metric}", f"{c.diff:+.4f}",
             f"[{c.low:+.4f}, {c.high:+.4f}]", "yes" if c.significant else "no"]
            for c in result.comparisons
        ],
    )  # fmt: skip
    teacher = escape(result.teacher["component"]["class"])
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Lexicon A/B</title>"
        f"<style>{CSS}</style></head><body><h1>Lexicon A/B</h1>"
        f"<p class='muted'>{result.texts} held-out texts; the teacher ({teacher}) is the "
        f"reference.</p><h2>Agreement with the teacher</h2>{arms}"
        f"<h2>Per-text absolute error, paired</h2>{diffs}</body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def ab_for_recipe(recipe: Recipe, artifact: Path) -> Path:
    """The recipe's held-out texts through the teacher, the student and its "before"."""
    from ragdistill.artifacts import update_metrics
    from ragdistill.config import build
    from ragdistill.loading import load_component
    from ragdistill.registry import default_registry

    _, held_out, _ = split_texts(recipe)
    teacher_cls = default_registry().teacher(STAGE, recipe.teacher.kind)
    teacher = build(teacher_cls, recipe.teacher.options, "teacher")
    arms = {"student": load_component(artifact, stage=STAGE)}
    baseline = Path(recipe.output) / "baseline"
    if recipe.evaluate.baseline and baseline.is_dir():
        arms["baseline"] = load_component(baseline, stage=STAGE)
    report = run_ab(
        teacher,
        arms,  # type: ignore[arg-type]
        held_out,
        Path(recipe.output) / "ab",
        n_bootstrap=recipe.evaluate.bootstrap,
        seed=recipe.train.seed,
    )
    metrics = LexiconABResult.from_json(report.parent / "ab.json").arms["student"]["metrics"]
    update_metrics(artifact, {f"ab/{k}": v for k, v in metrics.items()})
    return report


@click.command(STAGE)
@click.option("--teacher", required=True, help="KIND:MODEL (idf:CORPUS_DIR) or an artifact.")
@click.option("--student", required=True, help="The student: an artifact folder or KIND:MODEL.")
@click.option("--baseline", help="The student before distillation (a third arm), optional.")
@click.option(
    "--texts",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Held-out texts, one a line.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--n-bootstrap", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def ab(
    teacher: str,
    student: str,
    baseline: str | None,
    texts: Path,
    out: Path,
    n_bootstrap: int,
    seed: int,
) -> None:
    """Lexicon A/B: each arm's error and rank agreement with the teacher, per text.

    Writes OUT/ab.json and OUT/report.html.
    """
    from ragdistill.loading import load_arm

    arms = {name: spec for name, spec in (("student", student), ("baseline", baseline)) if spec}
    report = run_ab(
        load_arm(teacher, stage=STAGE),
        {name: load_arm(spec, stage=STAGE) for name, spec in arms.items()},
        read_lines(texts),
        out,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    click.echo(LexiconABResult.from_json(out / "ab.json").summary())
    click.echo(f"wrote {out / 'ab.json'} and {report}")


# -- the stage and the hooks ------------------------------------------------------------


class LexiconStage(DistillationStage[LexiconOptions]):
    """Word-specificity scores of texts; A/B: error and rank agreement on held-out texts."""

    contract = Lexicon
    Options = LexiconOptions
    summary = "word-specificity scores; A/B: error and rank agreement on held-out texts"

    def distill(self, recipe: Recipe, *, restart: bool, show_progress: bool) -> Path:
        from rd_lexicon_training import distill_lexicon

        return distill_lexicon(recipe, restart=restart, show_progress=show_progress)

    def ab_for_recipe(self, recipe: Recipe, artifact: Path, *, show_progress: bool) -> Path:
        return ab_for_recipe(recipe, artifact)

    def ab_summary(self, report: Path) -> str:
        return LexiconABResult.from_json(report.parent / "ab.json").summary()

    def ab_command(self) -> click.Command:
        return ab


@hookimpl
def register_stages(register: RegisterStage) -> None:
    register(STAGE, LexiconStage)


@hookimpl
def register_teachers(register: RegisterTeacher) -> None:
    register("idf", IdfLexicon)
    register("weights", WeightsLexicon)


@hookimpl
def register_students(register: RegisterStudent) -> None:
    register("hashed-bow", HashedBowStudent)


@hookimpl
def register_losses(register: RegisterLoss) -> None:
    from rd_lexicon_training import ScoreMSELoss  # imports torch

    register("lexicon-mse", ScoreMSELoss)


@hookimpl
def register_datasets(register: RegisterDataset) -> None:
    register("lines", LinesDataset)
