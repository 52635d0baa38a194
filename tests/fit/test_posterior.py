"""The orientation posterior against exact answers: brute force over the bins for one domain,
and direct integration over the weights for up to two."""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.stats import poisson

from deepgisas.fit.posterior import SETTLED_TV, orientation_posterior, summarise_chains
from deepgisas.sample import RandomBins
from deepgisas.templates import draw_orientation, orientation_weight_logpdf


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
    prior = np.exp([orientation_weight_logpdf(np.array([g, 1 - g])) for g in grid])
    for i, j in itertools.combinations(range(bins), 2):  # K = 2: p(K) / C(5, 2), f_2(w)
        ls = np.array([loglik(g * np.eye(bins)[i] + (1 - g) * np.eye(bins)[j]) for g in grid])
        z = np.exp(ls - ls.max()) * prior
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
    assert post.split_tv < SETTLED_TV  # 2000 sweeps on 5 bins: settled


def test_split_halves_tell_a_chain_that_has_not_settled() -> None:
    """The total variation between the two halves' means: 0 for a stationary record, 1 for a
    chain that sat on one bin and then on another, NaN for too short a record."""
    one, other = np.eye(4)[0], np.eye(4)[1]
    args = (1, 1, 0.0, {}, {}, 0.0)
    steady = summarise_chains([one] * 40, [one] * 40, 40, *args)
    record = [one] * 25 + [other] * 15  # the first 10 are burn-in
    moved = summarise_chains(record, record, 40, *args)
    short = summarise_chains([one] * 12, [one] * 12, 12, *args)
    assert steady.split_tv == 0.0 and moved.split_tv == 1.0 and np.isnan(short.split_tv)


def _simplex_grid(k: int, g: int) -> np.ndarray:
    """Points spread evenly over the (k - 1)-simplex (centroids of a regular subdivision)."""
    if k == 1:
        return np.ones((1, 1))
    if k == 2:
        x = (np.arange(g) + 0.5) / g
        return np.stack([x, 1 - x], 1)
    pts = [((i + 1 / 3) / g, (j + 1 / 3) / g) for i in range(g) for j in range(g - i)]
    pts += [((i + 2 / 3) / g, (j + 2 / 3) / g) for i in range(g) for j in range(g - i - 1)]
    a = np.array(pts)
    return np.column_stack([a, 1 - a.sum(1)])


def _exact(basis: np.ndarray, data: np.ndarray, kmax: int, kmin: int = 1
           ) -> tuple[np.ndarray, np.ndarray]:
    """The exact posterior mean of the weights and of the number of domains K under nonzero
    [kmin, kmax] with the scale unknown (flat in log s), by summing over every support and
    integrating over the simplex (the template's weight density) and log s on grids."""
    bins = basis.shape[1]
    s = np.exp(np.linspace(np.log(5.0), np.log(200.0), 120))
    means, masses, ks = [], [], []
    for k in range(kmin, kmax + 1):
        grid = _simplex_grid(k, 200 if k == 2 else 40)
        # the grid's mean is the flat mean over the simplex, of density (k - 1)!
        dens = np.exp([orientation_weight_logpdf(g) for g in grid]) / math.factorial(k - 1)
        for sup in itertools.combinations(range(bins), k):
            m = (basis[:, list(sup)] @ grid.T).T  # [G, N]
            ll = (data * np.log(s[None, :, None] * m[:, None]) - s[None, :, None]
                  * m[:, None]).sum(-1)  # [G, S]
            per_w = np.logaddexp.reduce(ll, axis=1)
            z = np.exp(per_w - per_w.max()) * dens
            w = np.zeros(bins)
            w[list(sup)] = (z[:, None] * grid).sum(0) / z.sum()
            means.append(w)
            masses.append(per_w.max() + np.log(z.mean()) - np.log(kmax - kmin + 1)
                          - math.log(math.comb(bins, k)))
            ks.append(k)
    p = np.exp(np.array(masses) - max(masses))
    p /= p.sum()
    return p @ np.array(means), np.bincount(np.array(ks) - 1, weights=p)


def _three_of_five() -> tuple[np.ndarray, np.ndarray]:
    """Three domains in 5 bins at about 60 counts in all, where every size is in play."""
    rng = np.random.default_rng(3)
    basis = rng.gamma(5.0, 1.0, (150, 5)) + 0.01
    basis /= basis.sum(0)
    return basis, rng.poisson(60.0 * basis @ np.array([0.6, 0, 0.25, 0.15, 0])).astype(
        np.float64)


def test_amplitude_chain_matches_the_integrated_posterior_with_the_scale_unknown() -> None:
    """The default chain (amplitudes, scale sampled; data-led births, deaths and
    replacements, whose Jacobians matter from 3 domains on) against direct integration over
    every support of up to three of 5 bins, the weights and the scale."""
    bins = 5
    basis, data = _three_of_five()
    exact, k_exact = _exact(basis, data, 3)
    assert k_exact.min() > 0.05  # every size in play
    post = orientation_posterior(basis, data, 10.0, 0.0, RandomBins(bins, (1, 3)),
                                 max_sweeps=1500, seconds=120, seed=2)
    assert np.abs(post.mean - exact).max() < 0.03, (post.mean, exact)
    assert np.abs(post.k_probability - k_exact).max() < 0.05, (post.k_probability, k_exact)


def test_a_bright_mixture_is_found_and_pinned() -> None:
    """Three domains at 10^6 counts: the chain starts at the mode (greedy selection with
    swaps) and keeps every truth bin's weight within its 90 % band, the band narrow."""
    bins = 40
    truth = np.zeros(bins)
    truth[[3, 17, 30]] = [0.5, 0.3, 0.2]
    rng = np.random.default_rng(5)
    basis = rng.gamma(0.3, 1.0, (400, bins)) + 1e-3
    basis /= basis.sum(0)
    data = rng.poisson(1e6 * basis @ truth + 1.0).astype(np.float64)
    post = orientation_posterior(basis, data, 1e6, 1.0, RandomBins(bins, (1, 5)),
                                 max_sweeps=200, seconds=60, seed=0)
    assert set(np.argsort(-post.mean)[:3]) == {3, 17, 30}
    assert (post.low[[3, 17, 30]] <= truth[[3, 17, 30]]).all()
    assert (truth[[3, 17, 30]] <= post.high[[3, 17, 30]]).all()
    assert (post.high - post.low)[[3, 17, 30]].max() < 0.02


def test_without_information_the_posterior_is_the_prior() -> None:
    """All bins alike (patterns equal to 1e-4): the likelihood says nothing about the
    support or the weights, so the chain must return the template's prior: the number of
    domains uniform on [1, 4], every bin equally likely, and the weights as the template
    draws them (mean largest weight of K domains from 20000 draws, against 3/4, 11/18 and
    25/48 for weights uniform on the simplex: a chain with that prior fails)."""
    rng = np.random.default_rng(0)
    pattern = rng.gamma(2.0, 1.0, 100) + 0.1
    basis = pattern[:, None] * (1 + 1e-4 * rng.standard_normal((100, 8)))
    basis /= basis.sum(0)
    data = rng.poisson(100 * basis[:, 0]).astype(np.float64)
    post = orientation_posterior(basis, data, 100.0, 0.0, RandomBins(8, (1, 4)),
                                 max_sweeps=3000, seconds=240, seed=3)
    assert np.abs(post.k_probability - 0.25).max() < 0.05, post.k_probability
    assert np.abs(post.mean - 1 / 8).max() < 0.01
    k = (post.samples > 0).sum(1)
    draws = [draw_orientation(RandomBins(8, (1, 4)), rng) for _ in range(20000)]
    for n, flat in ((2, 3 / 4), (3, 11 / 18), (4, 25 / 48)):
        expect = np.mean([max(d["weights"]) for d in draws if len(d["weights"]) == n])
        assert abs(expect - flat) > 0.05  # the two priors differ by more than the tolerance
        assert abs(post.samples[k == n].max(1).mean() - expect) < 0.03


def test_the_chain_samples_on_only_while_it_has_not_settled() -> None:
    """With the time budget spent at once (seconds=0) the chain stops after its 20 minimum
    sweeps; an extension keeps it going while the halves of its record disagree, and stops it
    once they agree."""
    bins = 5
    basis, data = _three_of_five()
    prior = RandomBins(bins, (1, 3))
    plain = orientation_posterior(basis, data, 10.0, 0.0, prior, seconds=0.0, seed=9)
    assert plain.sweeps == 20
    longer = orientation_posterior(basis, data, 10.0, 0.0, prior, seconds=0.0, seed=9,
                                   extend=60.0, max_sweeps=300)
    assert plain.split_tv > SETTLED_TV  # 20 sweeps are not enough here
    assert 20 < longer.sweeps < 300 and longer.split_tv <= SETTLED_TV
