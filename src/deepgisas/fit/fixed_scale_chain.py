"""The orientation chain at a held scale and background (:func:`sample_fixed_scale`): weight
transfers between domains, blind births and deaths."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch

from deepgisas.fit.amplitude_state import Chain
from deepgisas.fit.posterior_record import (
    OrientationPosterior,
    birth_probability,
    log_birth_prior,
    summarise_chains,
)
from deepgisas.sample import RandomBins
from deepgisas.templates import orientation_weight_logpdf as _log_f


def sample_fixed_scale(basis: np.ndarray, data: np.ndarray, scale: float,
                        background: float, prior: RandomBins, start: np.ndarray | None,
                        seed: int, max_sweeps: int, seconds: float, burn: float,
                        transfers: int, progress: Callable[[float, float], None] | None
                        ) -> OrientationPosterior:
    """The chain in the weights at a scale and background held: random-walk transfers of
    weight between two domains, and blind births (a new bin uniform among the free ones takes
    u ~ Beta(1, K) of the weight, the others keep 1 - u of theirs) and deaths."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    lo, hi = prior.nonzero
    bins_n = basis.shape[1]
    chain = Chain(torch.from_numpy(np.asarray(basis, dtype=np.float64)),
                   torch.from_numpy(np.asarray(data, dtype=np.float64)), scale, background,
                   int(data.shape[0]))
    if start is not None and np.asarray(start).sum() > 0:
        order = np.argsort(-np.asarray(start))
        k = min(hi, max(lo, int((np.asarray(start) > 0).sum())))
        s = [int(i) for i in order[:k]]
        w = np.maximum(np.asarray(start)[s], 1e-3)
        w = w / w.sum()
    else:
        single = chain.loglik(chain.scale * chain.rows + chain.background,
                              chain.scale * chain.col + chain.background * chain.n)
        s, w = [int(torch.argmax(single))], np.ones(1)
        while len(s) < lo:
            s.append(int(rng.choice([j for j in range(bins_n) if j not in s])))
            w = np.full(len(s), 1.0 / len(s))
    m_pos, m_sum = chain.model(s, w)
    sc, bg = chain.scale, chain.background
    ll = float(chain.loglik(m_pos, m_sum))
    rbs: list[np.ndarray] = []
    samples: list[np.ndarray] = []
    step = 0.05
    tried: dict[str, int] = {"transfer": 0, "jump": 0}
    took: dict[str, int] = {"transfer": 0, "jump": 0}
    sweeps = 0
    b_all = chain.rows
    while sweeps < max_sweeps and (sweeps < 20 or time.perf_counter() - t0 < seconds):
        burning = sweeps < 10  # the step adapts in the first sweeps only
        rb = np.zeros(bins_n)
        # 1. each domain's bin from its exact conditional (Gibbs), Rao-Blackwellised
        for i in rng.permutation(len(s)):
            wi = sc * w[i]
            base_pos = m_pos - wi * b_all[s[i]]
            base_sum = m_sum - wi * chain.col[s[i]]
            cand = chain.loglik_moves(base_pos, base_sum, wi)
            taken = [s[j] for j in range(len(s)) if j != i]
            if taken:
                cand[taken] = -torch.inf
            p = torch.softmax(cand, 0).numpy()
            rb += w[i] * p
            j = int(rng.choice(bins_n, p=p / p.sum()))
            s[i] = j
            m_pos, m_sum = base_pos + wi * b_all[j], base_sum + wi * chain.col[j]
            ll = float(cand[j])
        # 2. weight transfers between two domains (random walk; the prior's density ratio)
        if len(s) > 1:
            for _ in range(transfers):
                i, j = rng.choice(len(s), size=2, replace=False)
                delta = rng.normal(0.0, step)  # symmetric: the same law in every state
                if not (w[i] + delta > 0 and w[j] - delta > 0):
                    tried["transfer"] += 1
                    continue
                dm = sc * delta * (b_all[s[i]] - b_all[s[j]])
                ds = sc * delta * (chain.col[s[i]] - chain.col[s[j]])
                new = float(chain.loglik(m_pos + dm, m_sum + ds))
                tried["transfer"] += 1
                wn = w.copy()
                wn[i] += delta
                wn[j] -= delta
                if math.log(rng.uniform()) < new - ll + _log_f(wn) - _log_f(w):
                    w[i] += delta
                    w[j] -= delta
                    m_pos, m_sum, ll = m_pos + dm, m_sum + ds, new
                    took["transfer"] += 1
            if burning:  # adapt the step during the first sweeps towards ~30 % acceptance
                rate = took["transfer"] / max(tried["transfer"], 1)
                step *= 1.1 if rate > 0.3 else 0.9
        # 4. a birth or a death
        k = len(s)
        birth_p = birth_probability(k, lo, hi)
        if lo < hi:
            tried["jump"] += 1
            if rng.uniform() < birth_p:
                free = [j for j in range(bins_n) if j not in s]
                j = int(rng.choice(free))
                u = float(rng.beta(1.0, k))
                new_pos = (1 - u) * (m_pos - bg) + bg \
                    + sc * u * b_all[j]
                new_sum = (1 - u) * (m_sum - bg * chain.n) \
                    + bg * chain.n + sc * u * chain.col[j]
                new = float(chain.loglik(new_pos, new_sum))
                ratio = (1.0 - birth_probability(k + 1, lo, hi)) / birth_p
                # the prior's density ratio over the flat one's (k), whose u ~ Beta(1, k)
                dprior = log_birth_prior(w, u) - math.log(k)
                if math.log(rng.uniform()) < new - ll + math.log(ratio) + dprior:
                    s.append(j)
                    w = np.append((1 - u) * w, u)
                    m_pos, m_sum, ll = new_pos, new_sum, new
                    took["jump"] += 1
            else:
                i = int(rng.integers(k))
                wi = sc * w[i]
                rest = 1.0 - w[i]
                new_pos = (m_pos - bg - wi * b_all[s[i]]) / rest \
                    + bg
                new_sum = (m_sum - bg * chain.n - wi * chain.col[s[i]]) / rest \
                    + bg * chain.n
                new = float(chain.loglik(new_pos, new_sum))
                ratio = birth_probability(k - 1, lo, hi) / (1.0 - birth_p)
                dprior = -(log_birth_prior(np.delete(w, i) / rest, float(w[i]))
                           - math.log(k - 1))
                if math.log(rng.uniform()) < new - ll + math.log(ratio) + dprior:
                    s.pop(i)
                    w = np.delete(w, i) / rest
                    m_pos, m_sum, ll = new_pos, new_sum, new
                    took["jump"] += 1
        sweeps += 1
        full = np.zeros(bins_n)
        full[s] = w
        rbs.append(rb)
        samples.append(full)
        if progress is not None:
            progress(time.perf_counter() - t0, seconds)
    return summarise_chains(rbs, samples, sweeps, lo, hi, t0, tried, took, burn)

