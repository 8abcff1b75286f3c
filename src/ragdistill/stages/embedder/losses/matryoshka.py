"""An embedder loss applied at several prefix widths of the student's embedding.

Design: each prefix ``student[:, :d]`` is compared with the *full* teacher embedding by its
own copy of the inner loss. When ``d`` differs from the teacher's width that copy owns its
own learned projection ``d -> teacher_dim``, so every prefix is trained to carry as much of
the teacher as a linear map can recover. Comparing against a truncated teacher instead
(as sentence-transformers' MatryoshkaLoss does when the model is trained on labels) would be
unsound here: the teacher was not trained to front-load information, so its first ``d``
dimensions are an arbitrary slice of its space. NT-Xent and cosine re-normalise each prefix
as Matryoshka does; MSE re-normalises when ``normalize=true``.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from ragdistill.config import options_model, suggest, validate_options
from ragdistill.contracts import Stage
from ragdistill.errors import ConfigError
from ragdistill.losses.base import CONTEXT_KEYS, DistillationLoss, LossInputError, OptionError
from ragdistill.losses.shapes import check_embeddings, shape
from ragdistill.stages.embedder.losses.cosine import CosineDistillationLoss
from ragdistill.stages.embedder.losses.mse import EmbeddingMSELoss
from ragdistill.stages.embedder.losses.ntxent import NTXentLoss

InnerName = Literal["mse", "ntxent", "cosine"]
#: Inner losses: each takes ``student_dim`` and ``teacher_dim`` (plus its own options).
INNER: dict[str, Callable[..., DistillationLoss]] = {
    "mse": EmbeddingMSELoss,
    "ntxent": NTXentLoss,
    "cosine": CosineDistillationLoss,
}
DEFAULT_DIMS: tuple[int, ...] = (64, 128, 256, 384)


def matryoshka(
    student: Tensor,
    teacher: Tensor,
    *,
    dims: Sequence[int],
    weights: Sequence[float],
    losses: Sequence[Callable[[Tensor, Tensor], Tensor]],
) -> Tensor:
    """``sum_i weights[i] * losses[i](student[:, :dims[i]], teacher)``."""
    parts = [w * fn(student[:, :d], teacher) for d, w, fn in zip(dims, weights, losses)]
    return torch.stack(parts).sum()


class MatryoshkaLoss(DistillationLoss):
    """Train every prefix in ``dims`` of the student's embedding to stand in for the teacher.

    ``inner`` names the embedder loss applied at each width (``mse``, ``ntxent`` or
    ``cosine``); any other option is passed to it (``temperature = 0.05`` for ntxent).
    ``dims`` must be ascending and no wider than the student; ``weights`` (default all 1)
    scale each width's loss, and the loss is their weighted sum. The per-width projections
    are parameters of this loss: the trainer optimises them with the student.
    """

    stage: ClassVar[Stage] = "embedder"

    def __init__(
        self,
        inner: InnerName = "mse",
        dims: Sequence[int] = DEFAULT_DIMS,
        weights: Sequence[float] | None = None,
        student_dim: int | None = None,
        teacher_dim: int | None = None,
        **inner_options: Any,
    ) -> None:
        super().__init__()
        if inner not in INNER:
            raise OptionError("inner", f"must be one of {', '.join(INNER)}, got {inner!r}")
        self.dims = _check_dims(dims, student_dim)
        self.weights = _check_weights(weights, len(self.dims))
        self.inner = inner
        inner_cls = INNER[inner]
        kwargs = validate_options(inner_cls, inner_options, where=f"matryoshka({inner})")
        self.losses = torch.nn.ModuleList(
            inner_cls(**kwargs, student_dim=d, teacher_dim=teacher_dim) for d in self.dims
        )

    @classmethod
    def check_options(cls, options: Mapping[str, Any], *, where: str) -> dict[str, Any]:
        # Own keys and the inner loss's keys share one flat table: split, validate each, and
        # suggest from both when a key belongs to neither.
        own_keys = set(options_model(cls).model_fields)
        own = validate_options(
            cls, {k: v for k, v in options.items() if k in own_keys}, where=where
        )
        inner = own.get("inner", "mse")
        inner_keys = set(options_model(INNER[inner]).model_fields) - set(CONTEXT_KEYS)
        rest = {k: v for k, v in options.items() if k not in own_keys}
        for key in rest:
            if key not in inner_keys:
                valid = sorted((own_keys | inner_keys) - set(CONTEXT_KEYS))
                close = suggest(key, valid)
                fix = f"did you mean {close!r}?" if close else f"valid keys: {', '.join(valid)}"
                raise ConfigError(
                    f"invalid configuration:\n  {where}.{key}: unknown key for matryoshka "
                    f"with inner = {inner!r}; {fix}"
                )
        return {**own, **validate_options(INNER[inner], rest, where=where)}

    def forward(self, student: Tensor, teacher: Tensor, **batch: Any) -> Tensor:
        check_embeddings("matryoshka", student, teacher)
        if student.shape[1] < self.dims[-1]:
            raise LossInputError(
                f"matryoshka: student embeddings are {shape(student)} but dims go up to "
                f"{self.dims[-1]}; drop the larger dims or use a wider student"
            )
        fns = [functools.partial(fn, **batch) for fn in self.losses]
        return matryoshka(student, teacher, dims=self.dims, weights=self.weights, losses=fns)


def _check_dims(dims: Sequence[int], student_dim: int | None) -> list[int]:
    dims = list(dims)
    if not dims or any(not isinstance(d, int) or d < 1 for d in dims):
        raise OptionError("dims", f"must be a non-empty list of positive widths, got {dims!r}")
    if any(a >= b for a, b in itertools.pairwise(dims)):
        raise OptionError("dims", f"must be strictly ascending, got {dims!r}; sort them")
    if student_dim is not None and dims[-1] > student_dim:
        raise OptionError(
            "dims",
            f"{dims[-1]} exceeds the student's embedding width {student_dim}; use widths "
            f"<= {student_dim}, e.g. {[d for d in dims if d <= student_dim] or [student_dim]}",
        )
    return dims


def _check_weights(weights: Sequence[float] | None, n: int) -> list[float]:
    if weights is None:
        return [1.0] * n
    weights = [float(w) for w in weights]
    if len(weights) != n:
        raise OptionError("weights", f"needs one weight per dim ({n}), got {len(weights)}")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise OptionError("weights", f"must be finite and >= 0, got {weights!r}")
    return weights
