"""The base class of every distillation loss, and the errors losses raise.

A loss is a :class:`torch.nn.Module` with one abstract method, :meth:`~DistillationLoss.forward`,
that takes the student's and the teacher's outputs for one batch and returns a scalar.
The maths lives in a pure function next to each loss (``ntxent``, ``margin_mse``, ...) so
it can be tested against hand-computed values without a model.

Options come from the subclass's typed ``__init__``: a recipe's ``[[losses]]`` table is
validated against it (:func:`ragdistill.config.validate_options`) before any model loads.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from ragdistill.config import validate_options
from ragdistill.contracts import STAGES, Stage
from ragdistill.errors import ConfigError, MissingDependencyError, PluginError, RagdistillError

try:
    import torch
    from torch import Tensor
except ImportError as exc:  # the core install has no torch; training needs it
    raise MissingDependencyError(
        "ragdistill's distillation losses need torch: pip install torch, then "
        "pip install 'ragdistill[hf]'"
    ) from exc

#: What the trainer knows from the models and passes to a loss's ``__init__`` when it
#: names the parameter. A recipe never sets these.
CONTEXT_KEYS: tuple[str, ...] = ("student_dim", "teacher_dim")


class LossInputError(RagdistillError, ValueError):
    """A batch handed to a loss has the wrong shape; the message says how to fix the data."""


class OptionError(ConfigError):
    """One loss option is out of range. ``key`` lets the caller report ``losses[i].key``."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class DistillationLoss(torch.nn.Module, ABC):
    """Base of the distillation losses: implement :meth:`forward`, write a typed ``__init__``.

    Subclasses set ``stage`` to the stage they distill (the registry refuses a loss without
    one). ``also_stages`` lists other stages the loss applies to unchanged (token-level KL
    serves query transformers as well as generators, since both are language models).

    ``__init__`` parameters named in :data:`CONTEXT_KEYS` (``student_dim``, ``teacher_dim``)
    are filled by the trainer from the models, never from the recipe; they must default to
    ``None``. ``__init__`` must be cheap (no I/O, no model loading): the recipe loader builds
    each loss once without context to run its range checks before any model loads.

    A loss may own parameters (a projection from the student's to the teacher's
    embedding width): the trainer optimises ``loss.parameters()`` alongside the student.
    """

    stage: ClassVar[Stage]
    also_stages: ClassVar[tuple[Stage, ...]] = ()
    #: The validated recipe options this loss was built from (set by ``build_losses``).
    options: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for stage in (cls.__dict__.get("stage"), *cls.__dict__.get("also_stages", ())):
            if stage is not None and not (isinstance(stage, str) and stage):
                raise TypeError(
                    f"{cls.__qualname__}.stage is {stage!r}; set it to the name of the stage "
                    f"it distills, e.g. one of {', '.join(STAGES)}"
                )

    def __init__(self) -> None:
        super().__init__()
        self.options = {}

    @abstractmethod
    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        """The loss for one batch, a scalar tensor with a graph back to ``student``.

        ``batch`` carries extra inputs some losses use (``mask``) and, in training, the
        0-based ``step`` of the update about to be made (for a loss that anneals a
        temperature or a weight); a loss ignores keys it does not know, so several losses
        can share one batch.
        """

    @classmethod
    def supports(cls, stage: str) -> bool:
        """Whether this loss can distill ``stage``."""
        return getattr(cls, "stage", None) == stage or stage in cls.also_stages

    @classmethod
    def check_options(cls, options: Mapping[str, Any], *, where: str) -> dict[str, Any]:
        """Validate a recipe table's options; return the keyword arguments for ``__init__``.

        Override only when ``__init__`` forwards ``**kwargs`` to something that should be
        validated too (see :class:`~ragdistill.stages.embedder.losses.matryoshka.MatryoshkaLoss`).
        """
        return validate_options(cls, options, where=where)

    @classmethod
    def context_params(cls) -> list[str]:
        """The :data:`CONTEXT_KEYS` this loss's ``__init__`` names explicitly."""
        params = inspect.signature(cls.__init__).parameters
        names = [k for k in CONTEXT_KEYS if k in params]
        for name in names:
            if params[name].default is inspect.Parameter.empty:
                raise PluginError(
                    f"loss {cls.__qualname__}: __init__ parameter {name!r} must default to "
                    f"None; the trainer fills it, and recipes are validated before it is known"
                )
        return names

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())


def check_temperature(value: float, *, upper: float | None = None) -> None:
    """Reject a temperature outside ``(0, upper]`` (``(0, inf)`` when ``upper`` is None)."""
    if not (value > 0 and math.isfinite(value)) or (upper is not None and value > upper):
        span = f"(0, {upper}]" if upper is not None else "> 0"
        raise OptionError("temperature", f"must be in {span}, got {value!r}")
