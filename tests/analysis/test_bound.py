"""The ideal observer's posteriors on patterns whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from deepgisas.analysis.bound import Patterns, ideal_posteriors


def _counts(mu: np.ndarray, scale: float, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(np.repeat(mu[None] * scale, n, 0)).astype(float)


def test_identical_patterns_split_the_posterior_and_distinct_ones_are_found() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.uniform(1, 2, 50), rng.uniform(1, 2, 50)
    mu = np.stack([a, b, b])[None]  # G = 1, bins 1 and 2 identical
    pats = Patterns.of(mu)
    post = ideal_posteriors(_counts(b, 100.0, 20), pats, 100.0, np.zeros(20, int))["known"]
    np.testing.assert_allclose(post[:, 1], 0.5, atol=1e-12)  # KL = log 2 exactly
    np.testing.assert_allclose(post[:, 2], 0.5, atol=1e-12)
    post = ideal_posteriors(_counts(a, 100.0, 20), pats, 100.0, np.zeros(20, int))["known"]
    assert post[:, 0].min() > 0.999  # 5000 counts tell a from b
    low = ideal_posteriors(_counts(a, 1e-3, 20), pats, 1e-3, np.zeros(20, int))["known"]
    np.testing.assert_allclose(low.mean(0), 1 / 3, atol=0.05)  # no counts: the prior


def test_an_unknown_nuisance_can_mimic_another_bin() -> None:
    """Bin 0 at g = 1 looks exactly like bin 1 at g = 0: knowing g tells them apart, summing
    over g cannot (posterior 1/2 each, as the two are equally likely a priori)."""
    rng = np.random.default_rng(2)
    p, q, r = (rng.uniform(1, 2, 40) for _ in range(3))
    mu = np.stack([np.stack([p, q]), np.stack([q, r])])  # [G=2, bins=2, P]
    pats = Patterns.of(mu)
    counts = _counts(q, 1e3, 10)
    post = ideal_posteriors(counts, pats, 1e3, np.ones(10, int))  # truth: bin 0 at g = 1
    assert post["known"][:, 0].min() > 0.999
    np.testing.assert_allclose(post["unknown"][:, 0], 0.5, atol=1e-6)
    assert pats.log_likelihoods(counts, 1e3).shape == (10, 2, 2)


def test_log_likelihoods_are_poisson_up_to_a_constant_per_sample() -> None:
    from scipy.stats import poisson

    rng = np.random.default_rng(3)
    mu = rng.uniform(0.5, 3, (2, 3, 7))
    counts = rng.poisson(2.0, (4, 7)).astype(float)
    ll = Patterns.of(mu).log_likelihoods(counts, 2.5)
    exact = poisson.logpmf(counts[:, None, None], 2.5 * mu[None]).sum(-1)
    diff = ll - exact
    np.testing.assert_allclose(diff, diff[:, :1, :1] * np.ones_like(diff), rtol=0, atol=1e-9)


def test_bound_needs_an_orientation_model(tmp_path: object, capsys: pytest.CaptureFixture
                                          ) -> None:
    from deepgisas.cli.main import main

    assert main(["analyze", "bound", "film", "-o", str(tmp_path)]) == 2
    assert "orientation models only" in capsys.readouterr().err
