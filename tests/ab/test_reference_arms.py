"""Reference arms (the models a user could pick instead) and the quality-speed frontier."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ragdistill.evaluation.frontier import pareto_frontier
from ragdistill.stages.embedder.ab import reference_name
from ragdistill.stages.embedder.evaluate import reference_specs


def test_frontier_keeps_only_the_undominated_fastest_first() -> None:
    points = {
        "teacher": (0.70, 1.0),
        "big-student": (0.68, 5.0),
        "small-student": (0.60, 20.0),
        "reference": (0.59, 6.0),  # slower and worse than big-student... and small-student
        "tie": (0.60, 20.0),  # an exact tie stays
        "broken": (math.nan, 50.0),  # a missing figure is never on the frontier
    }
    assert pareto_frontier(points) == ["small-student", "tie", "big-student", "teacher"]
    assert pareto_frontier({}) == []


def test_reference_names_read_like_the_model() -> None:
    assert reference_name("all-MiniLM-L6-v2") == "all-MiniLM-L6-v2"
    assert reference_name("/models/paraphrase-MiniLM-L3-v2/") == "paraphrase-MiniLM-L3-v2"
    assert reference_name("sentence-transformers:all-MiniLM-L6-v2") == "all-MiniLM-L6-v2"


def _recipe(tmp_path: Path, student: str, evaluate: str = ""):
    from ragdistill.recipes import load_recipe
    from tests.core.test_recipes import GOOD, write

    text = GOOD.replace("keep_layers = [0, 2, 4]\n", student)
    return load_recipe(write(tmp_path, text + evaluate))


def test_a_pruned_student_is_compared_with_its_starting_model_by_default(
    tmp_path: Path,
) -> None:
    pruned = _recipe(tmp_path, "keep_layers = [0, 2, 4]\n")
    assert reference_specs(pruned) == ["all-MiniLM-L6-v2"]
    projected = _recipe(tmp_path, "projection_dim = 128\n")
    assert reference_specs(projected) == ["all-MiniLM-L6-v2"]
    # The student is its starting model: the baseline arm already is that model.
    assert reference_specs(_recipe(tmp_path, "")) == []


def test_a_recipe_names_its_references_or_none(tmp_path: Path) -> None:
    named = _recipe(
        tmp_path, "", '\n[evaluate]\nreferences = ["paraphrase-MiniLM-L3-v2", "x", "x"]\n'
    )
    assert reference_specs(named) == ["paraphrase-MiniLM-L3-v2", "x"]
    none = _recipe(tmp_path, "keep_layers = [0, 2, 4]\n", "\n[evaluate]\nreferences = []\n")
    assert reference_specs(none) == []


def test_a_reference_may_not_take_an_arm_name(judged, tmp_path: Path) -> None:
    pytest.importorskip("chromadb")
    from ab_fixtures import BagOfWords

    from ragdistill.errors import ConfigError
    from ragdistill.stages.embedder.ab import run_retrieval_ab

    with pytest.raises(ConfigError, match="cannot be named 'baseline'"):
        run_retrieval_ab(judged, BagOfWords(8), BagOfWords(8), references={"baseline": BagOfWords(4)},
                         index_dir=tmp_path)  # fmt: skip


def test_peak_memory_counts_pages_an_earlier_call_freed() -> None:
    """A model that ran a bigger batch earlier still shows its working memory.

    glibc keeps freed heap pages resident and reuses them: without handing them back
    first, a 16 MB allocation after an earlier one read as ~0 bytes of growth.
    """
    import numpy as np

    from ragdistill.evaluation.measure import peak_memory_during

    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc")
    first = np.ones(3_000_000)  # 24 MB, mmapped: glibc raises its mmap threshold
    del first
    second = np.ones(2_000_000)  # 16 MB from the heap, freed but kept resident
    del second
    _, peak = peak_memory_during(lambda: float(np.ones(2_000_000).sum()))
    assert peak is not None and peak >= 12_000_000


def test_weights_bytes_counts_parameters_and_buffers(tiny_st_path: Path) -> None:
    from ragdistill.evaluation.measure import weights_bytes
    from ragdistill.stages.embedder.components import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(str(tiny_st_path))
    module = embedder.st_model
    expected = sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])
    assert weights_bytes(embedder) == expected > 0
    assert weights_bytes(object()) is None
