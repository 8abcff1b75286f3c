"""A loaded component can be deep-copied and pickled: the copy reloads its model lazily."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import numpy as np


def test_a_loaded_embedder_survives_deepcopy_and_pickle(tiny_st_path: Path) -> None:
    from ragdistill.loading import load_component

    embedder = load_component(tiny_st_path, "embedder")
    before = embedder.embed_many(["a test sentence"])  # the model is loaded now
    for clone in (copy.deepcopy(embedder), pickle.loads(pickle.dumps(embedder))):
        np.testing.assert_allclose(clone.embed_many(["a test sentence"]), before, rtol=1e-6)
