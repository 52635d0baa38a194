"""Maximum-likelihood amplitudes on one support (``Chain.fit_support``, the orientation
chain's start and its candidate supports), against the optimality (KKT) conditions of the
Poisson likelihood with non-negative amplitudes."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize

from deepgisas.fit.amplitude_state import Chain


def test_a_vanishing_amplitude_in_an_ill_conditioned_direction_reaches_the_optimum() -> None:
    """Two nearly equal patterns (as neighbouring orientation bins are) and a third; the
    optimum puts one of the pair at its bound. From a flat start the fit must end where the
    KKT conditions hold: zero gradient for every amplitude above its bound, a gradient
    pointing out of the domain for the one at it (relative to the counts)."""
    rng = np.random.default_rng(4)
    n = 400
    base = rng.gamma(0.7, 1.0, (n, 2))
    basis = np.column_stack([base[:, 0], base[:, 0] * (1 + 0.02 * rng.standard_normal(n)),
                             base[:, 1]])
    basis /= basis.sum(0)
    truth = np.array([600.0, 0.0, 400.0])
    data = rng.poisson(basis @ truth + 0.05).astype(np.float64)
    chain = Chain(torch.from_numpy(basis), torch.from_numpy(data), 1.0, 0.05, n)
    c, ll = chain.fit_support([0, 1, 2], torch.full((3,), 1000.0 / 3, dtype=torch.float64),
                              0.05)
    m = basis @ c.numpy() + 0.05
    grad = basis.T @ (data / m) - basis.sum(0)  # d loglik / d c
    scale = np.sqrt(data.sum())
    on = c.numpy() > 1e-6 * c.numpy().sum()
    assert not on.all()  # the optimum is on the bound
    assert np.abs(grad[on]).max() * c.numpy().sum() < 1e-3 * scale, grad
    assert (grad[~on] <= 1e-6).all(), grad
    assert abs(ll - float(chain.loglik(torch.from_numpy(m[data > 0]), torch.tensor(m.sum())))
               ) < 1e-6


def test_supports_with_amplitudes_at_their_bound_reach_the_optimum() -> None:
    """Bright counts of two domains among 30 bins whose patterns vary smoothly from bin to
    bin (as orientation bins do), fitted on supports of 5 bins: the true two and three
    others, most of which end at their bound, from the warm starts the chain uses (another
    support's amplitudes). Every fit must reach the bounded optimum that scipy's L-BFGS-B
    finds at a tight tolerance, to 1e-5 in log-likelihood."""
    rng = np.random.default_rng(0)
    n, bins = 2000, 30
    x = np.linspace(0.0, 1.0, n)
    basis = np.stack([np.exp(-0.5 * ((x - 0.2 - 0.02 * j) / 0.05) ** 2)
                      + 0.5 * np.exp(-0.5 * ((x - 0.8 + 0.015 * j) / 0.08) ** 2)
                      + 0.05 for j in range(bins)], 1)
    basis /= basis.sum(0)
    data = rng.poisson(basis @ (np.eye(bins)[7] * 6e5 + np.eye(bins)[19] * 4e5)).astype(
        np.float64)
    chain = Chain(torch.from_numpy(basis), torch.from_numpy(data), 1.0, 0.0, n)
    for trial in range(12):
        others = rng.choice([j for j in range(bins) if j not in (7, 19)], 3, replace=False)
        sup = sorted([7, 19, *others.tolist()])
        start = torch.from_numpy(rng.dirichlet(np.ones(5)) * 1e6)
        c, ll = chain.fit_support(sup, start, 0.0)
        b = basis[:, sup]

        def negll(a: np.ndarray, b: np.ndarray = b) -> tuple[float, np.ndarray]:
            m = np.clip(b @ a, 1e-300, None)
            return -(data @ np.log(m) - m.sum()), -(b.T @ (data / m) - b.sum(0))

        ref = minimize(negll, np.full(5, 2e5), jac=True, method="L-BFGS-B",
                       bounds=[(0, None)] * 5,
                       options={"maxiter": 5000, "ftol": 1e-16, "gtol": 1e-12})
        assert ll > -ref.fun - 1e-5, (trial, sup, ll + ref.fun)
