"""Rebuilding a BERT sentence embedder from its ONNX graph as a PyTorch SentenceTransformer.

An ONNX export is fine for inference but cannot be trained, so it cannot be a
distillation student. The weights are all in the graph, though: the exporter keeps
embeddings, LayerNorms and biases under their module names, and turns each Linear
weight into an unnamed, transposed ``MatMul`` initializer (``onnx::MatMul_470``).
Each of those feeds an ``Add`` with its layer's named bias, which names it.

The attention head count is stored in no tensor shape: it is read from the shapes the
attention reshapes to (``[batch, seq, heads, head_dim]``), else the head sizes in
common use are tried and the one whose outputs match the graph's is kept. The saved
folder is then loaded back with plain ``SentenceTransformer`` and its embeddings are
compared with onnxruntime's on a few sentences: a folder that does not reproduce the
graph is never returned.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ragdistill.errors import ChecksumError, RagdistillError, require

# Checked with padding (short and long sentences in one batch) and past 64 positions.
SAMPLE_SENTENCES = (
    "A man is playing a guitar.",
    "The new movie is awesome!",
    "How do I reset my online banking password?",
    "Offline model conversion: ONNX initializers become a PyTorch BERT, checked "
    "against onnxruntime on the same tokens, so that the student starts exactly where "
    "the exported teacher graph was, including the position embeddings beyond the "
    "first few dozen tokens of a long and rather rambling sentence like this one.",
)
_ROOTS = ("embeddings.", "encoder.", "pooler.")
_HEAD_DIMS = (64, 32, 128, 16, 96, 80, 48, 8)  # most common first
_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.")


def _bert_name(name: str) -> str | None:
    """``model.0.auto_model.encoder.layer.0...`` -> ``encoder.layer.0...``; None if not BERT."""
    for root in _ROOTS:
        at = name.find(root)
        if at == 0 or (at > 0 and name[at - 1] == "."):
            return name[at:]
    return None


def bert_state_dict(
    initializers: Mapping[str, Any], nodes: Sequence[tuple[str, Sequence[str], Sequence[str]]]
) -> dict[str, Any]:
    """Map an exported graph's tensors to ``BertModel`` parameter names.

    ``initializers`` maps initializer names to numpy arrays; ``nodes`` lists the graph's
    nodes as ``(op_type, inputs, outputs)``. Named tensors keep their names (minus the
    wrapper prefix); an unnamed ``MatMul`` weight takes the name of the bias its output
    is added to, transposed back to the ``(out, in)`` layout of ``nn.Linear``.
    """
    values = dict(initializers)
    for op, inputs, outputs in nodes:
        # The exporter stores equal tensors once and names the others with Identity nodes.
        if op == "Identity" and inputs and inputs[0] in values:
            values[outputs[0]] = values[inputs[0]]

    state: dict[str, Any] = {}
    for name, value in values.items():
        if (bert := _bert_name(name)) is not None:
            state[bert] = value

    consumers: dict[str, list[tuple[str, Sequence[str]]]] = {}
    for op, inputs, _ in nodes:
        for name in inputs:
            consumers.setdefault(name, []).append((op, inputs))
    for op, inputs, outputs in nodes:
        if op != "MatMul" or len(inputs) != 2 or inputs[1] not in values:
            continue
        if _bert_name(inputs[1]) is not None:
            continue  # a named weight already in (in, out) layout would need no Add to name it
        biases = [
            bert
            for add_op, add_inputs in consumers.get(outputs[0], [])
            if add_op == "Add"
            for other in add_inputs
            if other != outputs[0]
            and (bert := _bert_name(other)) is not None
            and bert.endswith(".bias")
        ]
        if len(biases) != 1:
            continue  # the attention score and context MatMuls have no weight
        target = biases[0][: -len(".bias")] + ".weight"
        if target in state:
            raise RagdistillError(
                f"two MatMul weights of the ONNX graph are added to the bias {biases[0]!r}; "
                f"this graph's layout is not supported"
            )
        state[target] = values[inputs[1]].T
    return state


def heads_from_reshapes(
    nodes: Sequence[tuple[str, Sequence[str], Sequence[str]]],
    constants: Mapping[str, Sequence[int]],
    hidden: int,
) -> int | None:
    """The head count the attention ``Reshape`` nodes split ``hidden`` into, if they agree.

    ``constants`` maps the names of small integer tensors (``Constant`` outputs,
    initializers) to their values. A target shape ``[b, s, h, d]`` is either a constant
    or a ``Concat`` of one-element pieces; ``h`` may be ``-1`` when ``d`` is given.
    """
    producers = {out: (op, inputs) for op, inputs, outputs in nodes for out in outputs}
    votes: set[int] = set()
    for op, inputs, _ in nodes:
        if op != "Reshape" or len(inputs) < 2:
            continue
        target = inputs[1]
        if target in constants:
            dims: list[int | None] = list(constants[target])
        elif producers.get(target, ("", ()))[0] == "Concat":
            dims = [d for part in producers[target][1] for d in constants.get(part, [None])]
        else:
            continue
        if len(dims) != 4 or dims[3] is None or dims[3] <= 0 or hidden % dims[3]:
            continue
        heads, head_dim = dims[2], dims[3]
        if heads == -1 or (heads is not None and heads * head_dim == hidden):
            votes.add(hidden // head_dim)
    return votes.pop() if len(votes) == 1 else None


def bert_config(state: Mapping[str, Any], *, num_heads: int, layer_norm_eps: float) -> Any:
    """A ``BertConfig`` whose sizes are read off the tensors in ``state``."""
    transformers = require("transformers", extra="hf")

    def shape(name: str) -> tuple[int, ...]:
        if name not in state:
            raise RagdistillError(
                f"the ONNX graph has no tensor for the BERT parameter {name!r}; it is not an "
                f"fp32 BERT export (quantized graphs cannot be converted)"
            )
        return tuple(state[name].shape)

    vocab, hidden = shape("embeddings.word_embeddings.weight")
    layers = 1 + max((int(m.group(1)) for k in state if (m := _LAYER.match(k))), default=-1)
    return transformers.BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=num_heads,
        intermediate_size=shape("encoder.layer.0.intermediate.dense.weight")[0],
        max_position_embeddings=shape("embeddings.position_embeddings.weight")[0],
        type_vocab_size=shape("embeddings.token_type_embeddings.weight")[0],
        layer_norm_eps=layer_norm_eps,
        hidden_act="gelu",
        pad_token_id=0,
    )


def _bert_model(state: Mapping[str, Any], config: Any) -> Any:
    torch = require("torch", extra="hf")
    transformers = require("transformers", extra="hf")

    tensors = {k: torch.from_numpy(v.astype("float32", copy=True)) for k, v in state.items()}
    hidden = config.hidden_size
    # The graph computes mean pooling only, so the exporter dropped BERT's pooler. Zeros
    # make the saved folder load without warnings and convert to the same bytes every time.
    pooler = {
        "pooler.dense.weight": torch.zeros(hidden, hidden),
        "pooler.dense.bias": torch.zeros(hidden),
    }
    for key, value in pooler.items():
        tensors.setdefault(key, value)
    model = transformers.BertModel(config)
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise RagdistillError(
            f"the ONNX weights do not fit a {config.num_hidden_layers}-layer BertModel "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]}); it is not a BERT export"
        )
    return model.eval()


def _reference(onnx_path: Path, features: Mapping[str, Any], index: int | None) -> tuple[int, Any]:
    """Which output holds the embedding, and its values for ``features`` (onnxruntime)."""
    ort = require("onnxruntime", extra="onnx")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    wanted = [i.name for i in session.get_inputs()]
    if unknown := [n for n in wanted if n not in features]:
        raise RagdistillError(f"{onnx_path.name}: unexpected graph inputs {unknown}")
    outputs = session.run(None, {n: features[n].numpy() for n in wanted})
    if index is None:
        floats = [i for i, o in enumerate(outputs) if o.dtype.kind == "f"]
        # A sentence embedding if the graph has one, else its token states.
        found = [[i for i in floats if outputs[i].ndim == rank] for rank in (2, 3)]
        index = next((f[0] for f in found if len(f) == 1), None)
        if index is None:
            raise RagdistillError(
                f"cannot tell which output of {onnx_path.name} is the embedding (float outputs "
                f"{floats}); pass output_index"
            )
    if not 0 <= index < len(outputs):
        raise RagdistillError(
            f"{onnx_path.name} has {len(outputs)} outputs; output_index {index} is out of range"
        )
    out = outputs[index]
    if out.ndim == 3:  # token embeddings: mean-pool them the way the Pooling module will
        mask = features["attention_mask"].numpy()[..., None].astype(out.dtype)
        out = (out * mask).sum(1) / mask.sum(1).clip(min=1e-9)
    return index, out


def _max_diff(embeddings: Any, expected: Any) -> float:
    import numpy as np

    if embeddings.shape != expected.shape:
        return float("inf")
    return float(np.abs(embeddings - expected).max())


def _mean_pooled(model: Any, features: Mapping[str, Any]) -> Any:
    import torch

    with torch.inference_mode():
        tokens = model(**features).last_hidden_state
    mask = features["attention_mask"].unsqueeze(-1).to(tokens.dtype)
    return ((tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).numpy()


def _graph(onnx_path: Path) -> tuple[dict[str, Any], list[Any], dict[str, list[int]], float]:
    onnx = require("onnx", extra="onnx")
    from onnx import numpy_helper

    try:
        proto = onnx.load(str(onnx_path))
    except Exception as exc:  # onnx raises DecodeError and friends
        raise RagdistillError(f"{onnx_path} is not a readable ONNX model: {exc}") from exc
    graph = proto.graph
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    nodes = [(n.op_type, list(n.input), list(n.output)) for n in graph.node]
    tensors = dict(initializers)
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    tensors[node.output[0]] = numpy_helper.to_array(attr.t)
    constants = {
        name: [int(v) for v in value.ravel()]
        for name, value in tensors.items()
        if value.dtype.kind == "i" and value.size <= 4
    }
    eps = 1e-12
    for node in graph.node:
        if node.op_type == "LayerNormalization":
            for attr in node.attribute:
                if attr.name == "epsilon":
                    eps = float(attr.f)
            break
    return initializers, nodes, constants, eps


def _save(model: Any, tokenizer: Any, dest: Path, max_seq_length: int) -> None:
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers 6 moved the module classes
        from sentence_transformers.sentence_transformer import modules
    except ImportError:  # pragma: no cover - older releases
        from sentence_transformers import models as modules  # type: ignore[no-redef]

    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".bert-", dir=dest.parent) as scratch:
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        transformer = modules.Transformer(scratch, max_seq_length=max_seq_length)
        pooling = modules.Pooling(model.config.hidden_size, "mean")
        SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(dest))


def convert_onnx_bert(
    onnx_path: Path,
    tokenizer_dir: Path,
    dest: Path,
    *,
    output_index: int | None = None,
    num_heads: int | None = None,
    max_seq_length: int = 128,
    atol: float = 1e-4,
) -> dict[str, Any]:
    """Write a SentenceTransformer folder (BERT + mean pooling) rebuilt from ``onnx_path``.

    ``tokenizer_dir`` holds the tokenizer the graph was exported with (a graph carries
    none). ``output_index`` picks the graph output holding the sentence embedding (a
    3-d output is mean-pooled); by default the only 2-d float output. ``num_heads``
    defaults to what the attention reshapes say, else to the count whose outputs match
    the graph's. Raises
    :class:`~ragdistill.errors.ChecksumError` when the saved model's embeddings differ
    from the graph's by more than ``atol``. Returns metadata for the cache record.
    """
    require("torch", extra="hf")
    transformers = require("transformers", extra="hf")
    from sentence_transformers import SentenceTransformer

    start = time.perf_counter()
    onnx_path, dest = Path(onnx_path), Path(dest)
    initializers, nodes, constants, eps = _graph(onnx_path)
    state = bert_state_dict(initializers, nodes)
    del initializers
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir))
    features = dict(
        tokenizer(
            list(SAMPLE_SENTENCES),
            padding=True,
            truncation=True,
            max_length=max_seq_length,
            return_tensors="pt",
        )
    )
    index, expected = _reference(onnx_path, features, output_index)

    hidden = bert_config(state, num_heads=1, layer_norm_eps=eps).hidden_size
    if num_heads:
        heads, heads_from = [num_heads], "argument"
    elif hint := heads_from_reshapes(nodes, constants, hidden):
        heads, heads_from = [hint], "graph"
    else:
        heads = [hidden // d for d in _HEAD_DIMS if hidden % d == 0]
        heads_from = "search"
    tried: dict[int, float] = {}
    model = None
    for count in heads:
        candidate = _bert_model(state, bert_config(state, num_heads=count, layer_norm_eps=eps))
        tried[count] = _max_diff(_mean_pooled(candidate, features), expected)
        if tried[count] <= atol:
            model = candidate
            break
    if model is None:
        raise ChecksumError(
            f"no BERT rebuilt from {onnx_path.name} reproduces its output "
            f"{index}: max abs difference per head count {tried} (tolerance {atol}); "
            f"check output_index and that the tokenizer in {tokenizer_dir} is the graph's"
        )

    _save(model, tokenizer, dest, max_seq_length)
    # The check that counts: the folder a user gets, loaded the way a user loads it.
    saved = SentenceTransformer(str(dest), device="cpu")
    embeddings = saved.encode(list(SAMPLE_SENTENCES), batch_size=len(SAMPLE_SENTENCES))
    diff = _max_diff(embeddings, expected)
    if not diff <= atol:
        raise ChecksumError(
            f"the SentenceTransformer saved in {dest} differs from {onnx_path.name} by {diff:.2e} "
            f"(tolerance {atol}); the conversion is wrong: report it with your library versions"
        )
    return {
        "converted_from": onnx_path.name,
        "architecture": "BertModel",
        "layers": model.config.num_hidden_layers,
        "hidden": hidden,
        "heads": model.config.num_attention_heads,
        "heads_from": heads_from,
        "parameters": sum(p.numel() for p in model.parameters()),
        "onnx_output_index": index,
        "max_abs_diff": diff,
        "convert_seconds": round(time.perf_counter() - start, 1),
    }
