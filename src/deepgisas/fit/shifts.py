"""Shifts of the orientation chain in amplitudes with the amplitudes drawn anew: one or two
domains move by a few bins, and every amplitude is drawn from the Laplace approximation of
its conditional posterior on the new support (:mod:`deepgisas.fit.posterior` describes the
chain and its target).

Why: with bright data the amplitudes are fixed to a part in 10^4 on each support, and the
best amplitudes differ from support to support by more than that. A move that changes bins
with the amplitudes held (Gibbs over one domain's bin, births and replacements that keep the
others' ratios) then lands far out in the likelihood's tail and is refused. Two domains can
also be coupled: on one 5-domain image, domains at bins 6 and 23 and domains at 7 and 25
each fit well, while either move alone fits worse, and chains stayed in whichever pair they
took during burn-in.

The move: one domain (probability 1/2, or when K = 1) or two, uniform among the K, each
shifted by an offset uniform in +-1 ... +-``reach`` bins (refused when two domains would
share a bin). The support's proposal is symmetric. On the new support S' the amplitudes
c' ~ N(c*(S'), H(S')^-1), with c*(S') the maximum-likelihood amplitudes (>= 0) and H the
observed Fisher information there; the reverse draws the current amplitudes from the same
construction on the current support. Negative draws are refused (the target is zero
there). c* depends only on the support, the background and the counts (the fit is concave;
it is warm-started, and converged to 1e-7 in log-likelihood), so the pair of moves is
reversible."""

from __future__ import annotations

import math

import numpy as np
import torch

from deepgisas.fit.amplitude_state import Chain, ridged_cholesky
from deepgisas.fit.merge_split import State


def _laplace(chain: Chain, bins: list[int], c0: torch.Tensor, bg: float
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """The maximum-likelihood amplitudes on ``bins`` and the Cholesky factor of the Fisher
    information there (ridged)."""
    c, _ = chain.fit_support(bins, c0, bg, iters=60)
    m_pos, _ = chain.amplitude_model(bins, c, bg)
    return c, ridged_cholesky(chain.fisher(bins, m_pos))


def _log_gauss(x: torch.Tensor, mean: torch.Tensor, chol: torch.Tensor) -> float:
    """log N(x; mean, (chol chol^T)^-1) up to the constant."""
    z = chol.T @ (x - mean)
    return float(torch.log(chol.diagonal()).sum()) - 0.5 * float(z @ z)


def shift(chain: Chain, st: State, bg: float, rng: np.random.Generator, reach: int
          ) -> tuple[State, bool]:
    """One shift attempt from ``st`` (see the module docstring); the new state (or ``st``)
    and whether it was accepted."""
    bins, k = chain.rows.shape[0], len(st.s)
    reach = min(reach, (bins - 1) // 2)
    n = 1 if k == 1 or rng.uniform() < 0.5 else 2
    moved = rng.choice(k, n, replace=False)
    s_new = list(st.s)
    for i in moved:
        step = int(rng.integers(1, reach + 1)) * (1 if rng.uniform() < 0.5 else -1)
        s_new[int(i)] = (st.s[int(i)] + step) % bins
    if len(set(s_new)) < k:
        return st, False
    c_hat, l_cur = _laplace(chain, st.s, st.c, bg)
    c_new_hat, l_new = _laplace(chain, s_new, st.c, bg)
    z = torch.from_numpy(rng.standard_normal(k))
    c_new = c_new_hat + torch.linalg.solve_triangular(l_new.T, z[:, None], upper=True)[:, 0]
    if not bool((c_new > 0).all()):
        return st, False
    m_pos, m_sum = chain.amplitude_model(s_new, c_new, bg)
    new = State(s_new, c_new, m_pos, m_sum, float(chain.loglik(m_pos, m_sum)))
    log_prior = k * (math.log(float(st.c.max())) - math.log(float(c_new.max())))
    log_a = (new.ll - st.ll + log_prior + _log_gauss(st.c, c_hat, l_cur)
             - (float(torch.log(l_new.diagonal()).sum()) - 0.5 * float(z @ z)))
    if math.log(rng.uniform()) < log_a:
        return new, True
    return st, False
