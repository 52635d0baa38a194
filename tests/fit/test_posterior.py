"""The orientation posterior against exact answers: brute force over the bins for one domain,
and direct integration over the weights for up to two."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.stats import poisson

from deepgisas.fit.posterior import orientation_posterior
from deepgisas.sample import RandomBins


def _problem(bins: int, n: int, scale: float, truth: np.ndarray, seed: int = 0
             ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    basis = rng.gamma(0.5, 1.0, (n, bins))
    basis /= basis.sum(0)
    return basis, rng.poisson(scale * basis @ truth + 0.2).astype(np.float64)


def test_one_domain_is_the_brute_force_posterior() -> None:
    """With one domain (nonzero [1, 1]) the posterior over the bins is p(j | D) ∝ prod_i
    Poisson(D_i; s B_ij + b): computed here with scipy over every pixel, equal in every bin
    to 1e-9."""
    bins = 24
    truth = np.zeros(bins)
    truth[5] = 1.0
    basis, data = _problem(bins, 300, 3.0, truth)
    logl = np.array([poisson.logpmf(data, 3.0 * basis[:, j] + 0.2).sum() for j in range(bins)])
    exact = np.exp(logl - logl.max())
    exact /= exact.sum()
    post = orientation_posterior(basis, data, 3.0, 0.2, RandomBins(bins, (1, 1)),
                                 max_sweeps=30, seconds=60, sample_levels=False)
    assert np.abs(post.mean - exact).max() < 1e-9
    assert exact.max() < 0.99  # (a posterior with more than one bin in play)


def test_two_domains_match_the_integrated_posterior() -> None:
    """Up to two domains (nonzero [1, 2]) over 5 bins at low counts: the exact posterior mean
    of every bin's weight and of the number of domains, by integrating over the weight of each
    pair on a fine grid, against the reversible-jump chain's (2000 sweeps)."""
    bins, scale, bg = 5, 40.0, 0.2
    truth = np.array([0.7, 0, 0, 0.3, 0])
    basis, data = _problem(bins, 200, scale, truth)

    def loglik(w: np.ndarray) -> float:
        m = scale * basis @ w + bg
        return float((data * np.log(m) - m).sum())

    states, logmass = [], []
    for j in range(bins):  # K = 1: p(K) / C(5, 1) per bin
        states.append(np.eye(bins)[j])
        logmass.append(loglik(np.eye(bins)[j]) + np.log(0.5 / bins))
    grid = (np.arange(2000) + 0.5) / 2000
    for i, j in itertools.combinations(range(bins), 2):  # K = 2: p(K) / C(5, 2), Dirichlet 1
        ls = np.array([loglik(g * np.eye(bins)[i] + (1 - g) * np.eye(bins)[j]) for g in grid])
        z = np.exp(ls - ls.max())
        g = float((z * grid).sum() / z.sum())
        states.append(g * np.eye(bins)[i] + (1 - g) * np.eye(bins)[j])
        logmass.append(ls.max() + np.log(z.mean()) + np.log(0.5 / 10))
    p = np.exp(np.array(logmass) - max(logmass))
    p /= p.sum()
    exact = p @ np.array(states)
    post = orientation_posterior(basis, data, scale, bg, RandomBins(bins, (1, 2)),
                                 max_sweeps=2000, seconds=60, seed=1, sample_levels=False)
    assert np.abs(post.mean - exact).max() < 0.02, (post.mean, exact)
    assert abs(post.k_probability[0] - p[:bins].sum()) < 0.03
    assert (post.low <= post.high).all() and post.high[0] > 0.7 > post.low[0]
