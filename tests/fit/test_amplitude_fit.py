"""Maximum-likelihood amplitudes on one support (``Chain.fit_support``, the orientation
chain's start and its candidate supports), against the optimality (KKT) conditions of the
Poisson likelihood with non-negative amplitudes."""

from __future__ import annotations

import numpy as np
import torch

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
