"""Components that run an exported graph on ONNX Runtime.

Each wraps the torch loader component the artifact names (built, not loaded, with the
same options), so tokenization, prefixes, truncation and normalization are that
component's own; only the forward pass runs on ONNX Runtime.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from ragdistill.contracts import Embedder, FloatArray, InputType, Pair, Reranker
from ragdistill.errors import ConfigError, require
from ragdistill.hf._loading import context_length, load_tokenizer
from ragdistill.stages.embedder.components import SentenceTransformerEmbedder
from ragdistill.stages.reranker.components import CrossEncoderReranker


class _OnnxComponent:
    """Mixin: the session, its inputs, and ``describe()`` naming the export it runs."""

    source: Any
    session: Any
    inputs: list[str]
    export: dict[str, Any]
    #: The artifact's manifest (None for a plain model folder), as the torch loaders have.
    manifest: dict[str, Any] | None = None

    def _setup(self, source: Any, session: Any, export: dict[str, Any]) -> None:
        self.source = source
        self.session = session
        self.export = export
        taken = {i.name for i in session.get_inputs()}
        self.inputs = [name for name in export["inputs"] if name in taken]
        self.output = session.get_outputs()[0].name
        self.batch_size = source.batch_size
        self.options = source.options

    def describe(self) -> dict[str, Any]:
        # The source's identity plus the graph: an int8 student's index is not an fp32 one's.
        base: dict[str, Any] = self.source.describe()
        runtime = {"backend": "onnx", "quantize": self.export["quantize"],
                   "sha256": self.export["sha256"]}  # fmt: skip
        return {**base, "class": f"{type(self).__module__}.{type(self).__qualname__}",
                "runtime": runtime}  # fmt: skip

    def weights_bytes(self) -> int | None:
        """The graph's bytes (its weights, int8 or fp32): what the session holds."""
        size = self.export.get("size")
        return int(size) if isinstance(size, int) else None

    def _run(self, features: Any) -> Any:
        feed = {name: np.asarray(_numpy(features[name]), dtype=np.int64) for name in self.inputs}
        return self.session.run([self.output], feed)[0]


class OnnxEmbedder(_OnnxComponent, Embedder):
    """A sentence-transformers embedder whose whole pipeline (transformer, pooling,
    dense layers) runs as one ONNX graph; the model's own ``preprocess`` tokenizes."""

    def __init__(
        self, source: SentenceTransformerEmbedder, session: Any, export: dict[str, Any]
    ) -> None:
        self._setup(source, session, export)
        self.normalize = source.normalize
        self.prefixes = source.prefixes

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        if not texts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        st = self.source.st_model
        # What SentenceTransformer.encode does without prompt_name: the default prompt.
        default = getattr(st, "default_prompt_name", None)
        prompt = getattr(st, "prompts", {}).get(default) if default else None
        prefix = self.prefixes[input_type]
        features = st.preprocess([prefix + text for text in texts], prompt=prompt)
        vectors = np.asarray(self._run(features), dtype=np.float32)
        if self.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.maximum(norms, 1e-12)
        return vectors


class OnnxCrossEncoder(_OnnxComponent, Reranker):
    """A cross-encoder (one relevance logit, or two labels) on ONNX Runtime, scored as
    :class:`~ragdistill.stages.reranker.components.CrossEncoderReranker` scores."""

    def __init__(self, source: CrossEncoderReranker, session: Any, export: dict[str, Any]) -> None:
        self._setup(source, session, export)
        transformers = require("transformers", extra="hf")
        config = transformers.AutoConfig.from_pretrained(source.model)
        labels = int(config.num_labels)
        if labels not in (1, 2):
            raise ConfigError(
                f"cross-encoder {source.model!r} has {labels} labels; a reranker needs a model "
                "with one relevance logit or two (not relevant, relevant)"
            )
        self.tokenizer = load_tokenizer(source.model, trust_remote_code=source.trust_remote_code)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.limit = context_length(
            SimpleNamespace(config=config), self.tokenizer, source.max_length
        )

    def score_pairs(self, pairs: list[Pair]) -> FloatArray:
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        batch = self.tokenizer(
            [q for q, _ in pairs],
            [d for _, d in pairs],
            padding=True,
            truncation="longest_first",
            max_length=self.limit,
            return_tensors="np",
        )
        logits = np.asarray(self._run(batch), dtype=np.float32)
        scores = logits[:, 0] if logits.shape[1] == 1 else logits[:, 1] - logits[:, 0]
        return np.asarray(scores, dtype=np.float32)


def _numpy(value: Any) -> Any:
    """A torch tensor as a numpy array; numpy arrays as they are."""
    return value.cpu().numpy() if hasattr(value, "cpu") else value
