"""The embedder's sweep: its default candidates and the side-by-side comparison.

Default candidates are layer subsets of the student's model (all of its layers, about
two thirds, a half, a third; first and last layers always kept, the rest spread
evenly), the cheapest family to distill since every one starts from pretrained
weights. A recipe lists its own ``[[sweep.candidates]]`` for whole smaller models,
projection widths or reading lengths.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragdistill.recipes import Recipe
from ragdistill.stages.embedder.ab_result import ABResult


def default_candidates(recipe: Recipe) -> list[dict[str, Any]]:
    """Layer subsets of the student's model, largest first; none when its layer count
    cannot be read locally (a hub id on a machine without it: list candidates then)."""
    options = recipe.student.options
    layers = _layer_count(options.get("model"))
    if layers is None:
        return []
    counts = sorted({layers, math.ceil(2 * layers / 3), math.ceil(layers / 2),
                     max(1, math.ceil(layers / 3))}, reverse=True)  # fmt: skip
    own = options.get("keep_layers")
    out = []
    for n in counts:
        keep = spread_layers(n, layers)
        if keep == (own or list(range(layers))):
            continue  # the recipe's own student is the "recipe" candidate
        out.append({
            "name": f"layers-{n}",
            "note": f"{n} of the model's {layers} layers",
            "student": {"keep_layers": None if n == layers else keep},
        })  # fmt: skip
    return out


def spread_layers(n: int, total: int) -> list[int]:
    """``n`` of ``total`` layer indices: the first, the last and the rest evenly between."""
    if n >= total:
        return list(range(total))
    if n == 1:
        return [total - 1]
    return sorted({round(i * (total - 1) / (n - 1)) for i in range(n)})


def _layer_count(model: Any) -> int | None:
    if not isinstance(model, str):
        return None
    from ragdistill.errors import RagdistillError
    from ragdistill.hf._loading import _resolve

    try:
        folder = Path(_resolve(model))
    except (RagdistillError, OSError):
        return None
    for config in (folder / "config.json", *folder.glob("*/config.json")):
        try:
            layers = json.loads(config.read_text()).get("num_hidden_layers")
        except (OSError, ValueError):
            continue
        if isinstance(layers, int) and layers > 0:
            return layers
    return None


@dataclass
class SweepArms:
    """What a sweep's comparison runs: arms by name, their roles, the compared pairs and
    the embedders that build an arm's index (the teacher through its cache). A caller
    may add arms (an int8 export, a peer library's student) before :meth:`run`."""

    recipe: Recipe
    arms: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    index_embedders: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, embedder: Any, role: str, *, compare: Sequence[str] = ()) -> None:
        """Add an arm, compared with the teacher and with each of ``compare``."""
        from ragdistill.errors import ConfigError

        if name in self.arms:
            raise ConfigError(f"two arms of the sweep are named {name!r}; rename one")
        self.arms[name], self.roles[name] = embedder, role
        self.pairs += [(name, "teacher"), *((name, other) for other in compare)]

    def run(self, out: Path, *, show_progress: bool) -> ABResult:
        from ragdistill.stages.embedder.ab import run_arms

        evaluate = self.recipe.evaluate
        return run_arms(
            self.recipe_dataset(),
            self.arms,
            roles=self.roles,
            pairs=self.pairs,
            index_embedders=self.index_embedders,
            index_dir=out / "index",
            k=evaluate.k,
            max_queries=evaluate.max_queries,
            n_bootstrap=evaluate.bootstrap,
            throughput_repeats=evaluate.throughput_repeats,
            throughput_rounds=evaluate.throughput_rounds,
            seed=self.recipe.train.seed,
            show_progress=show_progress,
        )

    def recipe_dataset(self) -> Any:
        from ragdistill.config import build
        from ragdistill.registry import default_registry

        data = self.recipe.data
        return build(default_registry().dataset(data.dataset), data.options, "data").load()


def sweep_arms(recipe: Recipe, artifacts: Mapping[str, Path]) -> SweepArms:
    """The teacher (its index through the teacher cache), every candidate artifact
    (through the recipe's ``[runtime]``) and the reference arms; each candidate is
    compared with the teacher and with every reference."""
    from ragdistill.config import build
    from ragdistill.distill.cached_teacher import CachedEmbedder
    from ragdistill.errors import ConfigError
    from ragdistill.loading import load_arm, load_component, resolve_runtime
    from ragdistill.registry import default_registry
    from ragdistill.stages.embedder.ab import reference_name
    from ragdistill.stages.embedder.evaluate import reference_specs

    if not artifacts:
        raise ConfigError(
            f"no candidate of sweep {recipe.name!r} is distilled yet; run `ragdistill sweep` "
            "without --only (or with --only naming one) first"
        )
    runtime = resolve_runtime(recipe.runtime.backend, recipe.runtime.options)
    teacher = build(default_registry().teacher("embedder", recipe.teacher.kind),
                    recipe.teacher.options, "teacher")  # fmt: skip
    cache_root = Path(recipe.cache_dir) if recipe.cache_dir else None
    out = SweepArms(recipe, {"teacher": teacher}, {"teacher": "teacher"})
    out.index_embedders["teacher"] = CachedEmbedder(teacher, root=cache_root)
    references = {reference_name(spec): spec for spec in reference_specs(recipe)}
    for name, spec in references.items():
        if name in artifacts:
            raise ConfigError(
                f"reference {spec!r} has the name of a candidate; rename the candidate"
            )
        out.add(name, load_arm(spec, stage="embedder", runtime=runtime), "reference")
    for name, artifact in artifacts.items():
        student = load_component(artifact, "embedder", runtime=runtime)
        out.add(name, student, "candidate", compare=list(references))
    return out


def sweep_report(
    recipe: Recipe, artifacts: Mapping[str, Path], out: Path, *, show_progress: bool
) -> Path:
    """Every candidate, the teacher and the reference arms over the recipe's dataset in
    one run; ``ab.json`` and ``report.html`` (with the frontier) under ``out``."""
    from ragdistill.stages.embedder.ab_report import write_html_report

    result = sweep_arms(recipe, artifacts).run(out, show_progress=show_progress)
    result.settings["candidates"] = {name: str(path) for name, path in artifacts.items()}
    result.settings["training"] = training_notes(artifacts)
    result.to_json(out / "ab.json")
    return write_html_report(result, out / "report.html")


def training_notes(artifacts: Mapping[str, Path]) -> dict[str, str]:
    """Per candidate, how its training chose its weights (the report shows it), from the
    manifest saved beside each artifact."""
    from ragdistill.artifacts import read_manifest
    from ragdistill.distill.selection import training_note

    notes = {}
    for name, artifact in artifacts.items():
        manifest = read_manifest(artifact) or {}
        if note := training_note(manifest.get("metrics") or {}):
            notes[name] = note
    return notes
