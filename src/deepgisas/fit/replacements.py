"""Birth proposals of the orientation chain in amplitudes, and the move that removes a domain
and gives birth to another from the reduced state (:mod:`deepgisas.fit.posterior` describes
the method and its target).

:func:`replace_one`: a domain removed, one born: a domain jumps across the bins with its
weight re-chosen, which the bin-by-bin Gibbs moves of a bright mixture do not do.

A birth into a state of K domains takes a share u of the total, the others keeping 1 - u of
theirs (Jacobian (1 - u)^(K - 1)); removing a domain of share u undoes it. The move's
reverse removes the born domain and gives birth to the removed one from the same reduced
state, so the Hastings ratio takes the proposal densities of both directions, and the
choice of the domain to remove (uniform) cancels."""

from __future__ import annotations

import math

import numpy as np
import torch

from deepgisas.fit.amplitude_state import Chain
from deepgisas.fit.merge_split import State
from deepgisas.templates import orientation_weight_logpdf as _log_f


def _truncnorm_logpdf(x: float, mu: float, sd: float, hi: float) -> float:
    """log density at x of a normal (mu, sd) truncated to (0, hi)."""
    r = sd * math.sqrt(2.0)
    mass = 0.5 * (math.erf((hi - mu) / r) - math.erf(-mu / r))
    z = (x - mu) / sd
    return -0.5 * z * z - math.log(sd * math.sqrt(2 * math.pi)) - math.log(max(mass, 1e-300))


class BirthProposal:
    """A birth from one state: a new bin j takes a share u of the scale S, the others keeping
    1 - u of their amplitudes. q(j, u) is half blind (j uniform among the free bins,
    u ~ Beta(1, K)) and half led by the data: j among the ``many`` free bins of steepest
    ascent, with probability proportional to the likelihood gain at its best share u*_j, and
    u normal around u*_j truncated to (0, 1)."""

    def __init__(self, chain: Chain, m_pos: torch.Tensor, m_sum: torch.Tensor,
                 bins: list[int], total: float, bg: float, k: int, many: int = 12) -> None:
        bins_n = chain.rows.shape[0]
        self.free = np.ones(bins_n, dtype=bool)
        self.free[bins] = False
        shift = m_pos - bg
        idx = chain.candidates(m_pos, total, bins, many)
        u, h, gain = chain.line_gains(m_pos, m_sum, idx, total, shift,
                                      float(m_sum) - bg * chain.n, 1.0 - 1e-9)
        g = gain.numpy()
        self.p, self.u, self.sd = np.zeros(bins_n), np.zeros(bins_n), np.ones(bins_n)
        self.p[idx.numpy()] = np.exp(g - g.max()) / np.exp(g - g.max()).sum()
        self.u[idx.numpy()] = u.numpy()
        self.sd[idx.numpy()] = np.minimum(1.5 / np.sqrt(np.maximum(h.numpy(), 1e-300)), 1.0)
        self.k = k

    def log_density(self, j: int, u: float) -> float:
        """log q(j, u)."""
        blind = math.log(self.k) + (self.k - 1) * math.log1p(-u) \
            - math.log(int(self.free.sum()))
        led = (math.log(self.p[j]) + _truncnorm_logpdf(u, float(self.u[j]),
                                                        float(self.sd[j]), 1.0)
               if self.p[j] > 0 else -math.inf)
        top = max(blind, led)
        return top + math.log(0.5 * math.exp(blind - top) + 0.5 * math.exp(led - top))

    def draw(self, rng: np.random.Generator) -> tuple[int, float]:
        if rng.uniform() < 0.5:
            return int(rng.choice(np.flatnonzero(self.free))), float(rng.beta(1.0, self.k))
        j = int(rng.choice(self.p.size, p=self.p))
        mu, sd = float(self.u[j]), float(self.sd[j])
        while True:  # a truncated normal by rejection (mu lies in [0, 1])
            u = rng.normal(mu, sd)
            if 0 < u < 1:
                return j, u


def removed(chain: Chain, st: State, i: int, bg: float) -> tuple[State, float]:
    """``st`` without domain ``i``, the others rescaled to the same total (log-likelihood not
    evaluated: NaN), and the share that domain held."""
    total = float(st.c.sum())
    u = float(st.c[i]) / total
    m_pos = (st.m_pos - bg - u * total * chain.rows[st.s[i]]) / (1 - u) + bg
    m_sum = (st.m_sum - bg * chain.n - u * total * chain.col[st.s[i]]) / (1 - u) + bg * chain.n
    return State([b for n, b in enumerate(st.s) if n != i],
                 torch.cat([st.c[:i], st.c[i + 1:]]) / (1 - u), m_pos, m_sum, math.nan), u


def born(chain: Chain, st: State, j: int, u: float, total: float, bg: float,
         evaluate: bool = True) -> State:
    """``st`` with a domain at bin ``j`` holding a share ``u`` of ``total``."""
    m_pos = (1 - u) * (st.m_pos - bg) + bg + u * total * chain.rows[j]
    m_sum = (1 - u) * (st.m_sum - bg * chain.n) + bg * chain.n + u * total * chain.col[j]
    c = torch.cat([st.c * (1 - u), torch.tensor([u * total], dtype=st.c.dtype)])
    return State(st.s + [j], c, m_pos, m_sum,
                 float(chain.loglik(m_pos, m_sum)) if evaluate else math.nan)


def _log_weights_prior(c: torch.Tensor) -> float:
    return _log_f((c / c.sum()).numpy())


def replace_one(chain: Chain, st: State, bg: float, rng: np.random.Generator
                ) -> tuple[State, bool]:
    """One domain (uniform among the K >= 2) removed and one born from the reduced state by
    :class:`BirthProposal`; the new state (or ``st``) and whether it was accepted."""
    k, total = len(st.s), float(st.c.sum())
    i = int(rng.integers(k))
    r, ui = removed(chain, st, i, bg)
    q = BirthProposal(chain, r.m_pos, r.m_sum, r.s, total, bg, k - 1)
    j, u = q.draw(rng)
    new = born(chain, r, j, u, total, bg)
    log_a = (new.ll - st.ll + (k - 2) * (math.log1p(-u) - math.log1p(-ui))
             + _log_weights_prior(new.c) - _log_weights_prior(st.c)
             + q.log_density(st.s[i], ui) - q.log_density(j, u))
    if math.log(rng.uniform()) < log_a:
        return new, True
    return st, False

