"""Build a recipe's ``[[losses]]`` tables into one weighted loss.

A recipe lists losses as tables, e.g.::

    [[losses]]
    name = "ntxent"
    weight = 0.5
    temperature = 0.05

:func:`validate_loss_specs` checks them when the recipe loads (before any model does);
:func:`build_losses` builds them once the trainer knows the models' widths.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ragdistill.errors import ConfigError, UnknownNameError
from ragdistill.losses.base import CONTEXT_KEYS, DistillationLoss, OptionError

if TYPE_CHECKING:
    from ragdistill.registry import Registry

SPEC_KEYS = ("name", "weight")


class WeightedLoss(torch.nn.Module):
    """``sum(weight * loss(student, teacher, **batch))`` over several losses.

    :meth:`forward` returns the total and a dict of each part's *unweighted*, detached
    value for logging, keyed by the loss's name (``mse``, ``mse#2`` for a second one).
    The parts' parameters (projections) are this module's parameters: optimise them with
    the student and move this module to the student's device.
    """

    def __init__(
        self, parts: Sequence[tuple[float, DistillationLoss]], names: Sequence[str] | None = None
    ) -> None:
        super().__init__()
        if not parts:
            raise ConfigError("WeightedLoss needs at least one (weight, loss) pair")
        if names is not None and len(names) != len(parts):
            raise ValueError(f"got {len(names)} names for {len(parts)} losses")
        self.weights = [float(w) for w, _ in parts]
        self.losses = torch.nn.ModuleList(loss for _, loss in parts)
        self.names = _unique(names or [type(loss).__name__ for _, loss in parts])

    def forward(
        self, student: Tensor, teacher: Tensor, **batch: Any
    ) -> tuple[Tensor, dict[str, Tensor]]:
        total: Tensor | None = None
        parts: dict[str, Tensor] = {}
        for name, weight, loss in zip(self.names, self.weights, self.losses):
            value = loss(student, teacher, **batch)
            parts[name] = value.detach()
            total = weight * value if total is None else total + weight * value
        assert total is not None  # __init__ rejects an empty list
        return total, parts

    def describe(self) -> list[dict[str, Any]]:
        """What a training manifest records about the losses."""
        return [
            {"name": name, "weight": weight, "options": dict(getattr(loss, "options", {}))}
            for name, weight, loss in zip(self.names, self.weights, self.losses)
        ]


@dataclass(frozen=True)
class CheckedSpec:
    """One ``[[losses]]`` table after validation."""

    name: str
    weight: float
    cls: type[DistillationLoss]
    options: dict[str, Any]
    where: str


def validate_loss_specs(
    specs: Sequence[Mapping[str, Any]],
    registry: Registry,
    stage: str,
    *,
    context: Mapping[str, Any] | None = None,
) -> list[CheckedSpec]:
    """Check every table (name, stage, weight, options, option ranges) without models.

    Each loss is built once, without the trainer's context, so the range checks in its
    ``__init__`` (a temperature of 0, unsorted matryoshka dims) fail at recipe load; losses
    hold no model, so this is cheap. Raises :class:`ConfigError` naming ``losses[i].key``.
    """
    if isinstance(specs, Mapping) or not isinstance(specs, Sequence) or isinstance(specs, str):
        raise ConfigError(
            f"losses: expected a list of tables ([[losses]] in TOML), got {type(specs).__name__}"
        )
    if not specs:
        raise ConfigError(
            'losses: the list is empty; add at least one [[losses]] table, e.g. name = "mse"'
        )
    checked = [_check_spec(spec, i, registry, stage, context or {}) for i, spec in enumerate(specs)]
    for spec in checked:
        _construct(spec, context or {})
    return checked


def build_losses(
    specs: Sequence[Mapping[str, Any]],
    registry: Registry,
    *,
    stage: str,
    context: Mapping[str, Any],
) -> WeightedLoss:
    """Build the recipe's losses, giving each the ``context`` keys its ``__init__`` names.

    ``context`` holds what the trainer knows from the models (``student_dim``,
    ``teacher_dim``); a recipe may not set those keys itself.
    """
    checked = validate_loss_specs(specs, registry, stage, context=context)
    parts = [(spec.weight, _construct(spec, context)) for spec in checked]
    return WeightedLoss(parts, names=[spec.name for spec in checked])


def _check_spec(
    spec: Any, i: int, registry: Registry, stage: str, context: Mapping[str, Any]
) -> CheckedSpec:
    where = f"losses[{i}]"
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f'{where}: expected a table like {{name = "mse", weight = 1.0}}, '
            f"got {type(spec).__name__}"
        )
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f'{where}.name: required; name the loss to use, e.g. name = "mse"')
    weight = spec.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        raise ConfigError(f"{where}.weight: must be a number, got {weight!r}")
    if not math.isfinite(weight) or weight < 0:
        raise ConfigError(f"{where}.weight: must be finite and >= 0, got {weight!r}")
    try:
        cls = registry.loss(name)
    except UnknownNameError as exc:
        raise UnknownNameError(f"{where}.name: {exc}") from None
    if not cls.supports(stage):
        fits = sorted(
            e.name for e in registry.entries("loss") if registry.loss(e.name).supports(stage)
        )
        stages = ", ".join((cls.stage, *cls.also_stages))
        raise ConfigError(
            f"{where}.name: loss {name!r} distills the {stages} stage, but this recipe "
            f"distills the {stage} stage; use one of: {', '.join(fits) or 'none installed'}"
        )
    options = {k: v for k, v in spec.items() if k not in SPEC_KEYS}
    cls.context_params()  # a loss that requires a context key fails here, as a plugin bug
    for key in options:
        if key in CONTEXT_KEYS or key in context:
            raise ConfigError(
                f"{where}.{key}: set by the trainer from the models; remove it from the recipe"
            )
    kwargs = cls.check_options(options, where=where)
    return CheckedSpec(name, float(weight), cls, kwargs, where)


def _construct(spec: CheckedSpec, context: Mapping[str, Any]) -> DistillationLoss:
    params = inspect.signature(spec.cls.__init__).parameters
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    injected = {k: v for k, v in context.items() if k in params and params[k].kind in named}
    try:
        loss = spec.cls(**spec.options, **injected)
    except OptionError as exc:
        raise ConfigError(
            f"invalid configuration:\n  {spec.where}.{exc.key}: {exc.reason}"
        ) from None
    except (ConfigError, ValueError) as exc:
        raise ConfigError(f"{spec.where} ({spec.name}): {exc}") from exc
    loss.options = dict(spec.options)
    return loss


def _unique(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out
