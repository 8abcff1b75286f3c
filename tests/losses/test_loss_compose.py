"""build_losses / validate_loss_specs from recipe tables, and the built-in registrations."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, ClassVar

import pytest
import torch

from ragdistill.errors import ConfigError, PluginError, UnknownNameError
from ragdistill.losses import DistillationLoss, WeightedLoss, build_losses, validate_loss_specs
from ragdistill.plugins import get_plugin_manager
from ragdistill.registry import Registry, build_registry
from ragdistill.stages.embedder.losses import EmbeddingMSELoss, NTXentLoss
from ragdistill.stages.reranker.losses import PointwiseMSELoss

BUILTIN = {
    "mse", "ntxent", "matryoshka", "cosine", "margin-mse", "listwise-kl", "pointwise-mse",
    "logit-kl", "similarity-kl", "sequence-kd", "token-kd", "reverse-kl", "gjsd",
}  # fmt: skip


@pytest.fixture(scope="module")
def registry() -> Registry:
    return build_registry(get_plugin_manager(entry_points=False), kinds=("loss",))


def test_builtins_registered(registry: Registry) -> None:
    assert registry.loss("ntxent") is NTXentLoss
    assert {e.name for e in registry.entries("loss")} == BUILTIN
    assert {e.plugin for e in registry.entries("loss")} == {
        "ragdistill.default_plugins.losses",
        "ragdistill.stages.embedder.plugin",
        "ragdistill.stages.reranker.plugin",
    }


def test_hook_module_is_torch_free() -> None:
    code = (
        "import sys, ragdistill.default_plugins.losses, ragdistill.stages.embedder.plugin, "
        "ragdistill.stages.reranker.plugin, ragdistill.stages.generator.plugin; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_build_weighted_sum_with_context(registry: Registry) -> None:
    specs = [
        {"name": "ntxent", "weight": 0.5, "temperature": 0.1},
        {"name": "mse", "normalize": True},
        {"name": "mse"},
    ]
    loss = build_losses(
        specs, registry, stage="embedder", context={"student_dim": 3, "teacher_dim": 4}
    )
    assert isinstance(loss, WeightedLoss)
    assert loss.names == ["ntxent", "mse", "mse#2"]
    assert loss.weights == [0.5, 1.0, 1.0]
    ntx, mse, _ = loss.losses
    assert isinstance(ntx, NTXentLoss) and ntx.temperature == 0.1
    assert ntx.projection.in_features == 3 and ntx.projection.out_features == 4
    assert mse.options == {"normalize": True}
    # The projections are the WeightedLoss's parameters: one optimiser sees them all.
    assert len(list(loss.parameters())) == 3

    student, teacher = torch.randn(4, 3, requires_grad=True), torch.randn(4, 4)
    total, parts = loss(student, teacher)
    assert set(parts) == {"ntxent", "mse", "mse#2"}
    assert not any(p.requires_grad for p in parts.values())
    expected = 0.5 * parts["ntxent"] + parts["mse"] + parts["mse#2"]
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    total.backward()
    assert student.grad is not None
    assert all(p.grad is not None for p in loss.parameters())
    assert loss.describe()[0] == {"name": "ntxent", "weight": 0.5, "options": {"temperature": 0.1}}


def test_unknown_option_names_the_key(registry: Registry) -> None:
    with pytest.raises(ConfigError, match=r"losses\[0\]\.temprature: unknown key; did you mean"):
        build_losses(
            [{"name": "ntxent", "temprature": 0.1}], registry, stage="embedder", context={}
        )


def test_bad_option_type(registry: Registry) -> None:
    with pytest.raises(ConfigError, match=r"losses\[1\]\.form: "):
        validate_loss_specs(
            [{"name": "pointwise-mse"}, {"name": "margin-mse", "form": "cubed"}],
            registry,
            "reranker",
        )


def test_range_checked_at_validation(registry: Registry) -> None:
    with pytest.raises(ConfigError, match=r"losses\[0\]\.temperature: must be in \(0, 1.0\]"):
        validate_loss_specs([{"name": "ntxent", "temperature": 0}], registry, "embedder")
    with pytest.raises(ConfigError, match=r"losses\[0\]\.dims: must be strictly ascending"):
        validate_loss_specs([{"name": "matryoshka", "dims": [8, 4]}], registry, "embedder")


def test_matryoshka_dims_checked_against_context(registry: Registry) -> None:
    spec = [{"name": "matryoshka", "inner": "ntxent", "dims": [4, 64], "temperature": 0.05}]
    validate_loss_specs(spec, registry, "embedder")  # width unknown yet: fine
    with pytest.raises(ConfigError, match=r"losses\[0\]\.dims: 64 exceeds"):
        build_losses(
            spec, registry, stage="embedder", context={"student_dim": 32, "teacher_dim": 8}
        )


def test_stage_mismatch(registry: Registry) -> None:
    expected = (
        r"loss 'margin-mse' distills the reranker stage, but this recipe distills the embedder "
        r"stage; use one of: cosine, matryoshka, mse, ntxent, similarity-kl$"
    )
    with pytest.raises(ConfigError, match=expected):
        validate_loss_specs([{"name": "margin-mse"}], registry, "embedder")


def test_logit_kl_for_query_transformers(registry: Registry) -> None:
    specs = [{"name": "logit-kl", "temperature": 1.0}]
    assert validate_loss_specs(specs, registry, "query_transformer")[0].name == "logit-kl"


def test_unknown_loss_name(registry: Registry) -> None:
    with pytest.raises(UnknownNameError, match=r"losses\[0\]\.name: no loss named 'ntxnet'; "
                       r"did you mean 'ntxent'"):  # fmt: skip
        validate_loss_specs([{"name": "ntxnet"}], registry, "embedder")


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        ([], r"losses: the list is empty"),
        ({"name": "mse"}, r"losses: expected a list of tables"),
        (["mse"], r"losses\[0\]: expected a table"),
        ([{"weight": 1.0}], r"losses\[0\]\.name: required"),
        ([{"name": "mse", "weight": -1}], r"losses\[0\]\.weight: must be finite and >= 0"),
        ([{"name": "mse", "weight": "1"}], r"losses\[0\]\.weight: must be a number"),
        ([{"name": "mse", "student_dim": 8}], r"losses\[0\]\.student_dim: set by the trainer"),
    ],
)
def test_spec_errors(registry: Registry, specs: Any, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        validate_loss_specs(specs, registry, "embedder")


class Scaled(DistillationLoss):
    """A third-party loss that wants a context key the built-ins do not use."""

    stage: ClassVar = "reranker"

    def __init__(self, factor: float = 1.0, vocab_size: int | None = None) -> None:
        super().__init__()
        self.factor, self.vocab_size = factor, vocab_size

    def forward(self, student: torch.Tensor, teacher: torch.Tensor, **batch: Any) -> torch.Tensor:
        return self.factor * (student - teacher).abs().mean()


class NeedsDim(PointwiseMSELoss):
    def __init__(self, teacher_dim: int) -> None:
        super().__init__()


def test_context_injected_only_where_accepted() -> None:
    reg = Registry()
    reg.add("loss", "scaled", Scaled, plugin="test")
    reg.add("loss", "pointwise-mse", PointwiseMSELoss, plugin="test")
    context = {"student_dim": 4, "teacher_dim": 8, "vocab_size": 100}
    built = build_losses(
        [{"name": "scaled", "factor": 2.0}, {"name": "pointwise-mse"}],
        reg,
        stage="reranker",
        context=context,
    )
    assert built.losses[0].vocab_size == 100
    with pytest.raises(ConfigError, match=r"losses\[0\]\.vocab_size: set by the trainer"):
        build_losses([{"name": "scaled", "vocab_size": 3}], reg, stage="reranker", context=context)


def test_required_context_parameter_is_a_plugin_bug() -> None:
    reg = Registry()
    reg.add("loss", "needs-dim", NeedsDim, plugin="test")
    with pytest.raises(PluginError, match=r"'teacher_dim' must default to None"):
        validate_loss_specs([{"name": "needs-dim"}], reg, "reranker")


def test_registry_rejects_non_loss() -> None:
    with pytest.raises(
        PluginError, match=r"subclass of ragdistill\.losses\.base\.DistillationLoss"
    ):
        Registry().add("loss", "bad", torch.nn.MSELoss, plugin="test")


def test_bad_stage_on_subclass() -> None:
    with pytest.raises(TypeError, match=r"stage is ''; set it to the name of the stage"):
        type("Bad", (EmbeddingMSELoss,), {"stage": ""})
    # A third-party stage's name is a stage too.
    assert type("Mine", (EmbeddingMSELoss,), {"stage": "retriever"}).supports("retriever")
