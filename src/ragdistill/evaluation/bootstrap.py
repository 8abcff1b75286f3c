"""Paired bootstrap confidence intervals over queries.

Both systems answer the same queries, so the per-query differences are resampled
(with replacement, a fixed seed) and the percentile interval of their mean is
reported: it accounts for queries being easy or hard for both systems at once.
Where the two groups hold different items (an online A/B's requests, one arm each),
:func:`bootstrap_difference` resamples each group on its own instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class BootstrapCI:
    """The observed mean and its ``confidence`` percentile interval."""

    mean: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    n: int

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies wholly above or below 0 (a real difference)."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapCI:
    """CI of ``mean(b - a)`` where ``a[i]`` and ``b[i]`` are scores on the same query."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(
            f"paired scores need two equal-length 1-d sequences, got {x.shape} and {y.shape}"
        )
    return bootstrap_mean(y - x, n_resamples=n_resamples, confidence=confidence, seed=seed)


def bootstrap_mean(
    values: Sequence[float] | npt.NDArray[np.floating[Any]],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapCI:
    """Percentile bootstrap CI of the mean of ``values``."""
    v = np.asarray(values, dtype=np.float64)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if v.size == 0:
        nan = float("nan")
        return BootstrapCI(nan, nan, nan, confidence, n_resamples, 0)
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    # Chunks keep memory at ~8 MB whatever the number of queries.
    step = max(1, 1_000_000 // v.size)
    for start in range(0, n_resamples, step):
        count = min(step, n_resamples - start)
        idx = rng.integers(0, v.size, size=(count, v.size))
        means[start : start + count] = v[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return BootstrapCI(
        float(v.mean()), float(low), float(high), confidence, n_resamples, int(v.size)
    )


def bootstrap_share(
    base: Sequence[float],
    reference: Sequence[float],
    arm: Sequence[float],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapCI:
    """CI of the share of ``reference``'s lift over ``base`` that ``arm`` keeps:
    ``mean(arm - base) / mean(reference - base)``, the three scored on the same queries.

    Queries are resampled together, so the ratio's interval accounts for the lifts being
    correlated. Resamples where the reference shows no lift (denominator 0) are left out;
    the result is NaN when the reference's observed lift is 0.
    """
    b, r, a = (np.asarray(x, dtype=np.float64) for x in (base, reference, arm))
    if not b.shape == r.shape == a.shape or b.ndim != 1:
        raise ValueError(f"three equal-length 1-d sequences needed, got {b.shape}, {r.shape}, {a.shape}")  # fmt: skip
    nan = float("nan")
    lift_ref, lift_arm = r - b, a - b
    # A lift that is zero up to rounding (the reference's scores permute the base's)
    # would divide by ~1e-17: no lift, no share.
    tiny = 1e-9 * max(1.0, float(np.abs(r).mean()), float(np.abs(b).mean()))
    if b.size == 0 or abs(lift_ref.mean()) <= tiny:
        return BootstrapCI(nan, nan, nan, confidence, n_resamples, int(b.size))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, b.size, size=(n_resamples, b.size))
    den = lift_ref[idx].mean(axis=1)
    keep = np.abs(den) > tiny
    ratios = lift_arm[idx].mean(axis=1)[keep] / den[keep]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha]) if ratios.size else (nan, nan)
    share = float(lift_arm.mean() / lift_ref.mean())
    return BootstrapCI(share, float(low), float(high), confidence, n_resamples, int(b.size))


def bootstrap_difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapCI:
    """CI of ``mean(b) - mean(a)`` where ``a`` and ``b`` are scores of different items
    (two arms' requests): each group is resampled on its own (an unpaired bootstrap).

    ``n`` is the number of items in both groups; the result is NaN when either is empty.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"two 1-d sequences needed, got shapes {x.shape} and {y.shape}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n = int(x.size + y.size)
    if x.size == 0 or y.size == 0:
        nan = float("nan")
        return BootstrapCI(nan, nan, nan, confidence, n_resamples, n)
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_resamples)
    # Chunks keep memory at ~8 MB whatever the group sizes.
    step = max(1, 1_000_000 // max(x.size, y.size))
    for start in range(0, n_resamples, step):
        count = min(step, n_resamples - start)
        mean_x = x[rng.integers(0, x.size, size=(count, x.size))].mean(axis=1)
        mean_y = y[rng.integers(0, y.size, size=(count, y.size))].mean(axis=1)
        diffs[start : start + count] = mean_y - mean_x
    alpha = (1 - confidence) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    return BootstrapCI(
        float(y.mean() - x.mean()), float(low), float(high), confidence, n_resamples, n
    )
