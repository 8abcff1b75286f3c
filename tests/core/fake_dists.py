"""Real entry-point discovery for tests: write a dist-info folder and a module onto sys.path."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest


class PluginInstaller:
    """Installs throwaway plugin distributions that importlib.metadata really discovers."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        monkeypatch.syspath_prepend(str(root))

    def install(self, dist: str, *, entry_name: str, module: str, source: str) -> None:
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        info = self.root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
        (info / "entry_points.txt").write_text(f"[ragdistill]\n{entry_name} = {module}\n")
        sys.modules.pop(module, None)
        self.monkeypatch.delitem(sys.modules, module, raising=False)


EMBEDDER_PLUGIN = '''
import numpy as np
from ragdistill.contracts import Embedder
from ragdistill.hookspecs import hookimpl


class LengthEmbedder(Embedder):
    """Embeds a text as (length, vowel count): genuinely implements the contract."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def embed_batch(self, texts, *, input_type="document"):
        return np.array(
            [[len(t) * self.scale, sum(c in "aeiou" for c in t)] for t in texts], dtype=np.float32
        )


@hookimpl
def register_teachers(register):
    register("{name}", LengthEmbedder)
'''
