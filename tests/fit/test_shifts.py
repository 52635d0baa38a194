"""The shift move of the orientation chain (deepgisas.fit.shifts) on its own: it leaves the
posterior invariant, and it joins two coupled domains that no single-domain move connects."""

from __future__ import annotations

import numpy as np
import torch

from deepgisas.fit.amplitude_state import Chain
from deepgisas.fit.merge_split import State
from deepgisas.fit.shifts import shift
from tests.fit.test_posterior import _exact, _three_of_five


def _state(chain: Chain, s: list[int], c: np.ndarray) -> State:
    ct = torch.as_tensor(c, dtype=torch.float64)
    m_pos, m_sum = chain.amplitude_model(s, ct, 0.0)
    return State(list(s), ct, m_pos, m_sum, float(chain.loglik(m_pos, m_sum)))


def _chain(basis: np.ndarray, data: np.ndarray) -> Chain:
    return Chain(torch.from_numpy(basis), torch.from_numpy(data), 1.0, 0.0, data.shape[0])


def test_shifts_alone_sample_the_posterior_of_two_domains() -> None:
    """A chain of shifts only, with two domains among 5 bins at about 60 counts (every pair in
    play, amplitudes loosely held, some at their bound): each step moves one or both domains
    and draws both amplitudes from the Laplace approximation on the new support, so the
    Hastings ratio is all that keeps the target. Its mean weights against direct integration
    over every pair, the weights and the scale (nonzero [2, 2])."""
    basis, data = _three_of_five()
    exact, _ = _exact(basis, data, 2, kmin=2)
    chain = _chain(basis, data)
    rng = np.random.default_rng(0)
    st = _state(chain, [0, 2], np.array([30.0, 30.0]))
    total, accepted, steps = np.zeros(5), 0, 4000
    for i in range(steps):
        st, ok = shift(chain, st, 0.0, rng, reach=2)
        accepted += ok
        if i >= 400:
            total[st.s] += st.c.numpy() / float(st.c.sum())
    mean = total / (steps - 400)
    assert 0.2 < accepted / steps < 0.9  # (proposals neither all taken nor all refused)
    assert np.abs(mean - exact).max() < 0.03, (mean, exact)


def _bump(x: np.ndarray, at: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - at) / 1.5) ** 2)


def test_a_coupled_pair_moves_together() -> None:
    """Bright counts of two domains at bins 7 and 25, whose patterns hold the peaks p, r and
    q, s; bins 6 and 23 hold p, q and r, s. So {6, 23} explains every peak, only {7, 25}
    fits better (each also has a weak peak of its own), and no move of one domain from
    {6, 23} fits as well as staying. Shifts of both domains together reach {7, 25}."""
    bins, x = 30, np.arange(400.0)
    p, q, r, s = (_bump(x, v) for v in (40.0, 100.0, 160.0, 220.0))
    basis = np.stack([_bump(x, 250.0 + 5 * j) + 0.01 for j in range(bins)], 1)
    basis[:, 6], basis[:, 23] = p + q, r + s
    basis[:, 7] = p + r + 0.05 * _bump(x, 300.0)
    basis[:, 25] = q + s + 0.05 * _bump(x, 340.0)
    basis += 1e-3
    data = np.random.default_rng(1).poisson(
        200.0 * basis[:, 7] + 200.0 * basis[:, 25]).astype(np.float64)
    chain = _chain(basis, data)
    c0 = torch.tensor([200.0, 200.0], dtype=torch.float64)
    ll = {tuple(sup): chain.fit_support(list(sup), c0, 0.0)[1]
          for sup in ([6, 23], [7, 25], *([j, 23] for j in range(bins) if j != 23),
                      *([6, j] for j in range(bins) if j != 6))}
    single = max(v for k, v in ll.items() if len(set(k) & {6, 23}) == 1)
    assert ll[(7, 25)] > ll[(6, 23)] + 10 and single < ll[(6, 23)] - 10  # coupled
    c623, _ = chain.fit_support([6, 23], c0, 0.0)
    st = _state(chain, [6, 23], c623.numpy())
    rng = np.random.default_rng(0)
    for _ in range(1500):
        st, _ = shift(chain, st, 0.0, rng, reach=3)
        if sorted(st.s) == [7, 25]:
            break
    assert sorted(st.s) == [7, 25]
    assert np.allclose(st.c.numpy(), 200.0, rtol=0.1)
