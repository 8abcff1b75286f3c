"""Paired bootstrap confidence intervals on synthetic scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ragdistill.evaluation import bootstrap_mean, paired_bootstrap


def test_ci_contains_the_true_difference() -> None:
    rng = np.random.default_rng(42)
    hits = 0
    for trial in range(40):
        difficulty = rng.uniform(0, 1, 300)  # shared per-query difficulty
        a = difficulty + rng.normal(0, 0.1, 300)
        b = difficulty + 0.05 + rng.normal(0, 0.1, 300)  # true mean difference 0.05
        ci = paired_bootstrap(a, b, n_resamples=500, seed=trial)
        hits += ci.low <= 0.05 <= ci.high
    assert hits >= 34  # ~95% coverage: 38 expected of 40


def test_pairing_narrows_the_interval_and_detects_a_real_gain() -> None:
    rng = np.random.default_rng(0)
    difficulty = rng.uniform(0, 1, 200)
    a = difficulty
    b = difficulty + 0.02 + rng.normal(0, 0.01, 200)
    ci = paired_bootstrap(a, b)
    assert ci.excludes_zero and ci.low > 0
    assert ci.mean == pytest.approx(float(np.mean(b - a)))
    assert ci.high - ci.low < 0.01  # the shared difficulty cancels out
    assert ci.n == 200 and ci.n_resamples == 1000 and ci.confidence == 0.95


def test_no_difference_gives_interval_around_zero() -> None:
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, 100)
    noise = rng.normal(0, 0.05, 100)
    b = a + noise - noise.mean()  # observed mean difference exactly 0
    ci = paired_bootstrap(a, b)
    assert ci.mean == pytest.approx(0.0, abs=1e-12)
    assert ci.low < 0 < ci.high and not ci.excludes_zero


def test_fixed_seed_is_reproducible() -> None:
    values = list(np.linspace(0, 1, 50))
    assert bootstrap_mean(values, seed=7) == bootstrap_mean(values, seed=7)
    assert bootstrap_mean(values, seed=7) != bootstrap_mean(values, seed=8)


def test_input_checks() -> None:
    with pytest.raises(ValueError, match="equal-length"):
        paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mean([1.0], confidence=1.5)
    empty = bootstrap_mean([])
    assert empty.n == 0 and math.isnan(empty.mean)
    constant = bootstrap_mean([0.5] * 10)
    assert constant.low == constant.high == constant.mean == 0.5
