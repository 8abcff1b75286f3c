"""The ``onnx`` runtime: sentence-transformers embedders and cross-encoder rerankers on
ONNX Runtime, fp32 or with int8 weights (dynamic quantization).

The artifact is verified and its torch loader built exactly as the torch runtime does
(:func:`~ragdistill.loading.locate`, :func:`~ragdistill.loading.build_component`); the
graph comes from the checksummed export cache beside the folder
(:mod:`ragdistill.runtimes.onnx.export`), made on the first load.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from ragdistill.contracts import Component, Stage
from ragdistill.errors import ChecksumError, ConfigError, require
from ragdistill.runtime import RuntimeBackend

#: The shorthand provider names, and the ONNX Runtime providers each asks for.
PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
}
#: What the runtime runs, by loader class, in the words of its error message.
SUPPORTED = "sentence-transformers embedders and cross-encoder rerankers"


class OnnxRuntime(RuntimeBackend):
    """ONNX Runtime on ``provider`` (``cpu``, ``cuda``, ``auto``: CUDA when ONNX Runtime
    has it, or a provider's full name such as ``OpenVINOExecutionProvider``).

    ``quantize = "int8"`` runs the export with int8 weights; ``threads`` caps ONNX
    Runtime's intra-op threads. ``device`` is what ``--device`` passes (``cpu``,
    ``cuda``, ``cuda:N``, ``auto``); set it or ``provider``, not both. The export is
    made with torch on the CPU, whatever the provider.
    """

    def __init__(
        self,
        quantize: Literal["none", "int8"] = "none",
        threads: int | None = None,
        provider: str | None = None,
        device: str | None = None,
    ) -> None:
        if quantize not in ("none", "int8"):
            raise ConfigError(f"runtime.quantize must be 'none' or 'int8', got {quantize!r}")
        if threads is not None and threads < 1:
            raise ConfigError(f"runtime.threads must be >= 1, got {threads}")
        if provider is not None and device is not None:
            raise ConfigError(
                "set runtime.provider or runtime.device (--device), not both: they both say "
                "where ONNX Runtime runs"
            )
        if device is not None and not (
            device in ("auto", "cpu", "cuda") or device.startswith("cuda:")
        ):
            raise ConfigError(f"runtime.device must be auto, cpu, cuda or cuda:N, got {device!r}")
        chosen = provider or device or "cpu"
        name, _, index = chosen.partition(":")
        if not (name in (*PROVIDERS, "auto") or name.endswith("ExecutionProvider")) or (
            index and not (name == "cuda" and index.isdigit())
        ):
            raise ConfigError(
                "runtime.provider must be cpu, cuda, cuda:N, auto or an ONNX Runtime "
                f"provider name (CPUExecutionProvider...), got {chosen!r}"
            )
        self.quantize: Literal["none", "int8"] = quantize
        self.threads = threads
        self.provider = chosen

    def providers(self) -> list[Any]:
        """The ONNX Runtime providers to ask for, refused when ONNX Runtime lacks one."""
        ort = require("onnxruntime", extra="onnx")
        available = ort.get_available_providers()
        name, _, index = self.provider.partition(":")
        if name == "auto":
            name = "cuda" if PROVIDERS["cuda"] in available else "cpu"
        full = PROVIDERS.get(name, name)
        if full not in available:
            raise ConfigError(
                f"runtime.provider {self.provider!r} needs {full}, which this onnxruntime "
                f"does not have (it has {', '.join(available)}); for CUDA install "
                "onnxruntime-gpu, or use provider = 'cpu'"
            )
        chosen: Any = (full, {"device_id": int(index)}) if index else full
        return [chosen] if full == PROVIDERS["cpu"] else [chosen, PROVIDERS["cpu"]]

    def training_device(self) -> str:
        """ONNX Runtime does not train: students train with torch, on CUDA when this
        runtime runs on CUDA and on the CPU otherwise; the trained artifact is then
        exported when it loads."""
        from ragdistill.torch_runtime import TorchRuntime

        on_cuda = self.provider.startswith(("cuda", "auto", PROVIDERS["cuda"]))
        device = (self.provider if ":" in self.provider else "auto") if on_cuda else "cpu"
        return TorchRuntime(device=device, threads=self.threads).resolved_device()

    def load(self, path: Path, stage: Stage | None = None, **options: Any) -> Component:
        """The artifact's embedder or cross-encoder on ONNX Runtime; other loaders are
        refused. ``options`` go to the torch loader component (``batch_size``,
        ``query_prefix``...) as on the torch runtime; ``device`` is this runtime's."""
        from ragdistill.loading import build_component, locate
        from ragdistill.runtimes.onnx.components import OnnxCrossEncoder, OnnxEmbedder
        from ragdistill.runtimes.onnx.export import exported_model
        from ragdistill.stages.embedder.components import SentenceTransformerEmbedder
        from ragdistill.stages.reranker.components import CrossEncoderReranker

        artifact = locate(path, stage)
        cls = artifact.loader_class
        if not issubclass(cls, SentenceTransformerEmbedder | CrossEncoderReranker):
            raise ConfigError(
                f"the onnx runtime runs {SUPPORTED}; {artifact.root} is loaded by "
                f"{artifact.loader!r} ({cls.__qualname__}), which it cannot export: load it "
                "with the torch runtime (--runtime torch, or [runtime] backend = 'torch')"
            )
        source = build_component(artifact, **{**options, "device": "cpu"})
        if isinstance(source, SentenceTransformerEmbedder):
            kind, build = "sentence-embedding", _embedder_export(source)
        else:
            assert isinstance(source, CrossEncoderReranker)
            kind, build = "sequence-classification", _cross_encoder_export(source)
        file, entry = exported_model(
            artifact.root, artifact.manifest, self.quantize, build, kind=kind
        )
        session = self._session(file, entry["sha256"])
        export = {**entry, "quantize": self.quantize, "file": str(file)}
        component: Component
        if isinstance(source, SentenceTransformerEmbedder):
            component = OnnxEmbedder(source, session, export)
        else:
            component = OnnxCrossEncoder(source, session, export)
        component.manifest = artifact.manifest
        return component

    def _session(self, file: Path, sha256: str) -> Any:
        """An inference session on the bytes of ``file``, checked against ``sha256``
        (the bytes ONNX Runtime reads are the bytes checked)."""
        ort = require("onnxruntime", extra="onnx")
        data = file.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ChecksumError(
                f"{file} changed while it was loaded (its sha256 no longer matches its "
                "sidecar); load it again to re-export"
            )
        settings = ort.SessionOptions()
        if self.threads is not None:
            settings.intra_op_num_threads = self.threads
            settings.inter_op_num_threads = 1
        return ort.InferenceSession(data, sess_options=settings, providers=self.providers())


def _embedder_export(source: Any) -> Any:
    from ragdistill.runtimes.onnx.export import ExportSpec

    def build() -> ExportSpec:
        import torch

        st = source.st_model
        features = st.preprocess(["a sample text to trace the export", "a"])
        sample = {k: v for k, v in features.items() if isinstance(v, torch.Tensor)}
        return ExportSpec(st, sample, "sentence_embedding", takes_dict=True)

    return build


def _cross_encoder_export(source: Any) -> Any:
    from ragdistill.hf._loading import load_pretrained, load_tokenizer
    from ragdistill.runtimes.onnx.export import ExportSpec

    def build() -> ExportSpec:
        transformers = require("transformers", extra="hf")
        trust = source.trust_remote_code
        model = load_pretrained(
            transformers.AutoModelForSequenceClassification,
            source.model,
            what="cross-encoder",
            trust_remote_code=trust,
        ).eval()
        tokenizer = load_tokenizer(source.model, trust_remote_code=trust)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        # Two pairs of unequal length, so the trace keeps the attention mask's padding path.
        sample = tokenizer(
            ["a query", "a longer query to trace"],
            ["a sample document to trace the export", "a"],
            padding=True,
            return_tensors="pt",
        )
        return ExportSpec(model, dict(sample), "logits")

    return build
