"""The reversible-jump chain in the domains' amplitudes (:func:`sample_amplitudes`;
:mod:`deepgisas.fit.posterior` describes the method). Its births and replacements draw from
:mod:`deepgisas.fit.replacements`, its merges and splits are in
:mod:`deepgisas.fit.merge_split`, its shifts in :mod:`deepgisas.fit.shifts`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch

from deepgisas.fit.amplitude_state import Chain, ridged_cholesky, start_support, support_of
from deepgisas.fit.merge_split import State, merge_or_split
from deepgisas.fit.posterior_record import (
    SETTLED_TV,
    OrientationPosterior,
    birth_probability,
    kept_from,
    log_birth_prior,
    split_tv,
    summarise_chains,
)
from deepgisas.fit.replacements import BirthProposal, born, removed, replace_one
from deepgisas.fit.shifts import shift
from deepgisas.sample import RandomBins


def sample_amplitudes(basis: np.ndarray, data: np.ndarray, background: float,
                       prior: RandomBins, starts: list[np.ndarray], seed: int,
                       max_sweeps: int, seconds: float, burn: float, transfers: int,
                       progress: Callable[[float, float], None] | None, extend: float = 0.0,
                       reach: int = 6) -> OrientationPosterior:
    """The chain in amplitudes (see the module docstring); ``reach``: the merge and split
    moves join or part domains up to this many bins apart, the shifts move them up to this
    many bins."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    lo, hi = prior.nonzero
    bins_n = basis.shape[1]
    chain = Chain(torch.from_numpy(np.asarray(basis, dtype=np.float64)),
                   torch.from_numpy(np.asarray(data, dtype=np.float64)), 1.0, background,
                   int(data.shape[0]))
    bg = float(background)
    s, c = start_support(chain, bg, lo, hi, [support_of(w, hi) for w in starts])
    b_all, col = chain.rows, chain.col  # b_all[j]: bin j's pattern [N+]
    m_pos, m_sum = chain.amplitude_model(s, c, bg)
    ll = float(chain.loglik(m_pos, m_sum))
    eps = dict.fromkeys(("amplitudes", "log amplitudes"), 2.38 / math.sqrt(len(s)))
    bg_step = 0.1
    tried = dict.fromkeys(("amplitudes", "log amplitudes", "background", "birth", "death",
                           "replace", "merge", "split", "shift"), 0)
    took = dict.fromkeys(tried, 0)
    rbs: list[np.ndarray] = []
    samples: list[np.ndarray] = []
    sweeps = 0

    def chol(h: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """The Cholesky factor of the Fisher information ``h`` in coordinates x with
        dc = g dx (g = 1: c itself; g = c: log c), ridged."""
        return ridged_cholesky(g[:, None] * h * g[None, :])

    def log_prior(c: torch.Tensor) -> float:  # within one size: max(c)^-K (/ K)
        return -len(c) * math.log(float(c.max()))

    while sweeps < max_sweeps:
        elapsed = time.perf_counter() - t0
        if sweeps >= 20 and elapsed >= seconds and (
                elapsed >= seconds + extend or (sweeps % 5 == 0 and not split_tv(
                    np.asarray(rbs[kept_from(sweeps, burn):])) > SETTLED_TV)):
            break  # the budget is spent, and the chain has settled or the extension too
        burning = sweeps < 10
        total = float(c.sum())
        rb = np.zeros(bins_n)
        # 1. each domain's bin from its exact conditional (Gibbs), Rao-Blackwellised
        for i in rng.permutation(len(s)):
            ci = float(c[i])
            base_pos = m_pos - ci * b_all[s[i]]
            base_sum = m_sum - ci * col[s[i]]
            cand = chain.loglik_moves(base_pos, base_sum, ci)
            taken = [s[j] for j in range(len(s)) if j != i]
            if taken:
                cand[taken] = -torch.inf
            p = torch.softmax(cand, 0).numpy()
            rb += ci / total * p
            j = int(rng.choice(bins_n, p=p / p.sum()))
            s[i] = j
            m_pos, m_sum = base_pos + ci * b_all[j], base_sum + ci * col[j]
            ll = float(cand[j])
        # 2. the amplitudes, Gaussian with the inverse Fisher information at both ends;
        # in turn a step in c and one in log c (the Fisher information there is
        # diag(c) H diag(c), the target's density takes the Jacobian prod(c)): in c for
        # amplitudes the counts fix, in log c for those the counts leave near zero
        h_cur = chain.fisher(s, m_pos)
        one = torch.ones(len(s), dtype=c.dtype)
        for t in range(transfers):
            kind = "log amplitudes" if t % 2 else "amplitudes"
            e = eps[kind]
            l_cur = chol(h_cur, c if t % 2 else one)
            z = torch.from_numpy(rng.standard_normal(len(s)))
            step = e * torch.linalg.solve_triangular(l_cur.T, z[:, None], upper=True)[:, 0]
            cn = c * torch.exp(step) if t % 2 else c + step
            tried[kind] += 1
            if not bool(torch.isfinite(cn).all() & (cn > 0).all()):
                continue
            n_pos, n_sum = chain.amplitude_model(s, cn, bg)
            new = float(chain.loglik(n_pos, n_sum))
            h_new = chain.fisher(s, n_pos)
            l_new = chol(h_new, cn if t % 2 else one)
            back = l_new.T @ step  # the reverse step, whitened, times e
            fwd = float(torch.log(l_cur.diagonal()).sum()) - 0.5 * float(z @ z)
            rev = float(torch.log(l_new.diagonal()).sum()) - 0.5 * float(back @ back) / e**2
            jacobian = float(step.sum()) if t % 2 else 0.0
            if math.log(rng.uniform()) < (new - ll + log_prior(cn) - log_prior(c) + jacobian
                                          + rev - fwd):
                c, m_pos, m_sum, ll, h_cur = cn, n_pos, n_sum, new, h_new
                took[kind] += 1
        if burning:
            for kind in eps:
                rate = took[kind] / max(tried[kind], 1)
                eps[kind] *= 1.15 if rate > 0.3 else 0.85
        # 3. the background: a random walk in its log (flat prior there)
        if bg > 0:
            factor = math.exp(rng.normal(0.0, bg_step))
            n_pos, n_sum = m_pos + bg * (factor - 1), m_sum + bg * (factor - 1) * chain.n
            new = float(chain.loglik(n_pos, n_sum))
            tried["background"] += 1
            if math.log(rng.uniform()) < new - ll:
                m_pos, m_sum, ll, bg = n_pos, n_sum, new, bg * factor
                took["background"] += 1
            if burning:
                bg_step *= 1.2 if took["background"] / tried["background"] > 0.3 else 0.8
        # 4. a birth or a death
        k = len(s)
        birth_p = birth_probability(k, lo, hi)
        total = float(c.sum())
        if lo < hi and rng.uniform() < birth_p:
            tried["birth"] += 1
            q = BirthProposal(chain, m_pos, m_sum, s, total, bg, k)
            j, u = q.draw(rng)
            nst = born(chain, State(s, c, m_pos, m_sum, ll), j, u, total, bg)
            death_p = 1.0 - birth_probability(k + 1, lo, hi)
            dprior = log_birth_prior((c / total).numpy(), u)
            log_a = (nst.ll - ll + math.log(death_p / birth_p) + dprior
                     + (k - 1) * math.log1p(-u) - math.log(bins_n - k) - q.log_density(j, u))
            if math.log(rng.uniform()) < log_a:
                s, c, m_pos, m_sum, ll = nst.s, nst.c, nst.m_pos, nst.m_sum, nst.ll
                took["birth"] += 1
        elif lo < hi:
            tried["death"] += 1
            i = int(rng.integers(k))
            r, u = removed(chain, State(s, c, m_pos, m_sum, ll), i, bg)
            new = float(chain.loglik(r.m_pos, r.m_sum))
            q = BirthProposal(chain, r.m_pos, r.m_sum, r.s, total, bg, k - 1)
            back = birth_probability(k - 1, lo, hi)
            dprior = log_birth_prior(np.delete((c / total).numpy(), i) / (1 - u), u)
            log_a = -(ll - new + math.log((1.0 - birth_p) / back) + dprior
                      + (k - 2) * math.log1p(-u) - math.log(bins_n - k + 1)
                      - q.log_density(s[i], u))
            if math.log(rng.uniform()) < log_a:
                s, c, m_pos, m_sum, ll = r.s, r.c, r.m_pos, r.m_sum, new
                took["death"] += 1
        # 5. a merge of two neighbouring domains or a split of one
        st, kind, ok = merge_or_split(chain, State(s, c, m_pos, m_sum, ll), lo, hi, rng, reach)
        if kind:
            tried[kind] += 1
            took[kind] += int(ok)
            s, c, m_pos, m_sum, ll = st.s, st.c, st.m_pos, st.m_sum, st.ll
        # 6. replacements: a domain removed and a new one born from the reduced state (K
        # times, :mod:`deepgisas.fit.replacements`)
        st = State(s, c, m_pos, m_sum, ll)
        for _ in range(len(s) if len(s) > 1 else 0):
            st, ok = replace_one(chain, st, bg, rng)
            tried["replace"] += 1
            took["replace"] += int(ok)
        # 7. a shift of one or two domains, the amplitudes drawn anew (:mod:`.shifts`)
        if reach > 0:
            st, ok = shift(chain, st, bg, rng, reach)
            tried["shift"] += 1
            took["shift"] += int(ok)
        s, c, m_pos, m_sum, ll = st.s, st.c, st.m_pos, st.m_sum, st.ll
        if len(s) != k:
            eps = {kind: min(e, 2.38 / math.sqrt(len(s))) for kind, e in eps.items()}
        sweeps += 1
        full = np.zeros(bins_n)
        full[s] = (c / c.sum()).numpy()
        rbs.append(rb)
        samples.append(full)
        if progress is not None:
            progress(time.perf_counter() - t0, seconds)
    return summarise_chains(rbs, samples, sweeps, lo, hi, t0, tried, took, burn)

