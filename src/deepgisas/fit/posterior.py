"""The posterior of an orientation distribution given the counts: which xi bins, with what
weights, and how sure.

At the fitted nuisance the pattern is exactly linear in the domains' weights: with the
single-domain patterns B [N, bins] (one per xi bin), the scale s and the background b,

    m(w) = s B w + b,        counts D_i ~ Poisson(m_i(w)).

The prior is the template's: K non-zero bins with K uniform on ``nonzero`` = [lo, hi], the
support uniform among the K-subsets of the bins, and the weights uniform on the simplex
(Dirichlet(1, ..., 1)). The posterior over (support, weights) is sampled by reversible-jump
Markov chain Monte Carlo (Green 1995), one sweep being:

- for each domain in turn, its bin drawn from its exact conditional over every free bin
  (Gibbs: the likelihood of all bins at once, one [N, bins] pass); the posterior mean is
  accumulated from these conditionals (Rao-Blackwell), so a single domain's posterior is the
  brute-force one over the bins, exactly;
- random-walk transfers of weight between two domains (Metropolis; the flat Dirichlet density
  cancels);
- a birth or a death: a new bin j (uniform among the free ones) takes u ~ Beta(1, K) of the
  weight, the others keep (1 - u) of theirs; a death removes a domain and rescales the rest.
  With the proposal and the Jacobian (1 - u)^(K-1) the acceptance ratio is the likelihood
  ratio times p(K') b / (p(K) d) (birth and death probabilities), the subsets' counts and the
  Dirichlet normalisations cancelling.

The scale and the background are sampled too (random walks in their logs, flat priors
there): a weight hidden in a domain whose rods miss the detector trades off against the
scale. Bands are per-bin quantiles of the samples.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from deepgisas.sample import RandomBins


@dataclass(frozen=True)
class OrientationPosterior:
    """``mean`` [bins] (sums to 1), ``low`` / ``high`` [bins]: the 5 % and 95 % quantiles of
    each bin's weight; ``k_probability`` [hi - lo + 1]: the posterior of the number of
    domains; ``samples`` [S, bins] (after burn-in); ``sweeps``, ``seconds``; ``acceptance``:
    of the weight transfers and of the births and deaths."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    k_probability: np.ndarray
    samples: np.ndarray
    sweeps: int
    seconds: float
    acceptance: dict[str, float]


class _Chain:
    """The state: bins ``s`` (list), weights ``w`` [K], the model on the counted pixels
    ``m_pos`` and its total ``m_sum``."""

    def __init__(self, basis: torch.Tensor, data: torch.Tensor, scale: float,
                 background: float, n: int) -> None:
        pos = data > 0
        self.b_pos = basis[pos]  # [N+, bins]: the log term needs only pixels with counts
        self.d_pos = data[pos]
        self.col = basis.sum(0)  # [bins]: sum over all pixels of each pattern
        self.scale, self.background, self.n = scale, background, n

    def loglik(self, m_pos: torch.Tensor, m_sum: torch.Tensor) -> torch.Tensor:
        """Poisson log-likelihood (up to a constant) for models [..., N+] and their totals."""
        return (self.d_pos * torch.log(m_pos.clamp_min(1e-300))).sum(-1) - m_sum

    def loglik_columns(self, m_pos: torch.Tensor, m_sum: torch.Tensor) -> torch.Tensor:
        """:meth:`loglik` of the models in the columns of m_pos [N+, B] (totals [B])."""
        return (self.d_pos[:, None] * torch.log(m_pos.clamp_min(1e-300))).sum(0) - m_sum

    def model(self, bins: list[int], w: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        wt = torch.as_tensor(w, dtype=self.b_pos.dtype)
        idx = torch.as_tensor(bins)
        m_pos = self.scale * (self.b_pos[:, idx] @ wt) + self.background
        m_sum = self.scale * (self.col[idx] @ wt) + self.background * self.n
        return m_pos, m_sum


def _birth_probability(k: int, lo: int, hi: int) -> float:
    if lo == hi or k >= hi:
        return 0.0
    return 1.0 if k <= lo else 0.5


def orientation_posterior(basis: np.ndarray, data: np.ndarray, scale: float,
                          background: float, prior: RandomBins,
                          start: np.ndarray | None = None, seed: int = 0,
                          max_sweeps: int = 400, seconds: float = 10.0, burn: float = 0.2,
                          transfers: int = 8, sample_levels: bool = True,
                          progress: Callable[[int, int], None] | None = None
                          ) -> OrientationPosterior:
    """Sample the posterior of the weights over the bins (see the module docstring).

    ``basis`` [N, bins]: single-domain patterns on the counted pixels; ``data`` [N]: counts;
    ``scale``, ``background``: of the fitted model (the chain's start); ``prior``: the
    template's random_bins;
    ``start`` [bins]: weights to start from (e.g. the maximum-likelihood fit; its largest
    ``hi`` are kept), else the best single bin. Runs ``max_sweeps`` sweeps or ``seconds``,
    whichever ends first (at least 20); the first ``burn`` of them are discarded.
    ``sample_levels``: sample the scale and background too (else hold them, e.g. known)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    lo, hi = prior.nonzero
    bins_n = basis.shape[1]
    chain = _Chain(torch.from_numpy(np.asarray(basis, dtype=np.float64)),
                   torch.from_numpy(np.asarray(data, dtype=np.float64)), scale, background,
                   int(data.shape[0]))
    if start is not None and np.asarray(start).sum() > 0:
        order = np.argsort(-np.asarray(start))
        k = min(hi, max(lo, int((np.asarray(start) > 0).sum())))
        s = [int(i) for i in order[:k]]
        w = np.maximum(np.asarray(start)[s], 1e-3)
        w = w / w.sum()
    else:
        single = chain.loglik_columns(chain.scale * chain.b_pos + chain.background,
                                      chain.scale * chain.col + chain.background * chain.n)
        s, w = [int(torch.argmax(single))], np.ones(1)
        while len(s) < lo:
            s.append(int(rng.choice([j for j in range(bins_n) if j not in s])))
            w = np.full(len(s), 1.0 / len(s))
    m_pos, m_sum = chain.model(s, w)
    sc, bg = chain.scale, chain.background  # sampled too (flat priors on log s and log b)
    ll = float(chain.loglik(m_pos, m_sum))
    log_steps = {"scale": 0.01, "background": 0.1}
    rbs: list[np.ndarray] = []
    samples: list[np.ndarray] = []
    step = 0.05
    tried: dict[str, int] = {"transfer": 0, "jump": 0, "level": 0}
    took: dict[str, int] = {"transfer": 0, "jump": 0, "level": 0}
    sweeps = 0
    b_all = chain.b_pos
    while sweeps < max_sweeps and (sweeps < 20 or time.perf_counter() - t0 < seconds):
        burning = sweeps < 10  # the step adapts in the first sweeps only
        rb = np.zeros(bins_n)
        # 1. each domain's bin from its exact conditional (Gibbs), Rao-Blackwellised
        for i in rng.permutation(len(s)):
            wi = sc * w[i]
            base_pos = m_pos - wi * b_all[:, s[i]]
            base_sum = m_sum - wi * chain.col[s[i]]
            cand = chain.loglik_columns(base_pos[:, None] + wi * b_all,
                                        base_sum + wi * chain.col)
            taken = [s[j] for j in range(len(s)) if j != i]
            if taken:
                cand[taken] = -torch.inf
            p = torch.softmax(cand, 0).numpy()
            rb += w[i] * p
            j = int(rng.choice(bins_n, p=p / p.sum()))
            s[i] = j
            m_pos, m_sum = base_pos + wi * b_all[:, j], base_sum + wi * chain.col[j]
            ll = float(cand[j])
        # 2. weight transfers between two domains (random walk, flat Dirichlet density)
        if len(s) > 1:
            for _ in range(transfers):
                i, j = rng.choice(len(s), size=2, replace=False)
                delta = rng.normal(0.0, step)  # symmetric: the same law in every state
                if not (w[i] + delta > 0 and w[j] - delta > 0):
                    tried["transfer"] += 1
                    continue
                dm = sc * delta * (b_all[:, s[i]] - b_all[:, s[j]])
                ds = sc * delta * (chain.col[s[i]] - chain.col[s[j]])
                new = float(chain.loglik(m_pos + dm, m_sum + ds))
                tried["transfer"] += 1
                if math.log(rng.uniform()) < new - ll:
                    w[i] += delta
                    w[j] -= delta
                    m_pos, m_sum, ll = m_pos + dm, m_sum + ds, new
                    took["transfer"] += 1
            if burning:  # adapt the step during the first sweeps towards ~30 % acceptance
                rate = took["transfer"] / max(tried["transfer"], 1)
                step *= 1.1 if rate > 0.3 else 0.9
        # 3. the scale and the background: random walks in log (the model is linear in both)
        for name in ("scale", "background") if sample_levels else ():
            factor = math.exp(rng.normal(0.0, log_steps[name]))
            if name == "scale":
                new_pos, new_sum = (m_pos - bg) * factor + bg, (m_sum - bg * chain.n) * factor \
                    + bg * chain.n
            else:
                new_pos, new_sum = m_pos + bg * (factor - 1), m_sum + bg * (factor - 1) * chain.n
            new = float(chain.loglik(new_pos, new_sum))
            tried["level"] += 1
            if math.log(rng.uniform()) < new - ll:
                m_pos, m_sum, ll = new_pos, new_sum, new
                if name == "scale":
                    sc *= factor
                else:
                    bg *= factor
                took["level"] += 1
            if burning:
                log_steps[name] *= 1.2 if took["level"] / tried["level"] > 0.3 else 0.8
        # 4. a birth or a death
        k = len(s)
        birth_p = _birth_probability(k, lo, hi)
        if lo < hi:
            tried["jump"] += 1
            if rng.uniform() < birth_p:
                free = [j for j in range(bins_n) if j not in s]
                j = int(rng.choice(free))
                u = float(rng.beta(1.0, k))
                new_pos = (1 - u) * (m_pos - bg) + bg \
                    + sc * u * b_all[:, j]
                new_sum = (1 - u) * (m_sum - bg * chain.n) \
                    + bg * chain.n + sc * u * chain.col[j]
                new = float(chain.loglik(new_pos, new_sum))
                ratio = (1.0 - _birth_probability(k + 1, lo, hi)) / birth_p
                if math.log(rng.uniform()) < new - ll + math.log(ratio):
                    s.append(j)
                    w = np.append((1 - u) * w, u)
                    m_pos, m_sum, ll = new_pos, new_sum, new
                    took["jump"] += 1
            else:
                i = int(rng.integers(k))
                wi = sc * w[i]
                rest = 1.0 - w[i]
                new_pos = (m_pos - bg - wi * b_all[:, s[i]]) / rest \
                    + bg
                new_sum = (m_sum - bg * chain.n - wi * chain.col[s[i]]) / rest \
                    + bg * chain.n
                new = float(chain.loglik(new_pos, new_sum))
                ratio = _birth_probability(k - 1, lo, hi) / (1.0 - birth_p)
                if math.log(rng.uniform()) < new - ll + math.log(ratio):
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
            progress(sweeps, max_sweeps)
    first = max(int(burn * sweeps), min(10, sweeps // 2))  # burn-in, adaptation included
    draws = np.asarray(samples[first:])
    mean = np.asarray(rbs[first:]).mean(0)
    k_counts = np.bincount((draws > 0).sum(1) - lo, minlength=hi - lo + 1).astype(float)
    return OrientationPosterior(
        mean / mean.sum(), np.quantile(draws, 0.05, axis=0), np.quantile(draws, 0.95, axis=0),
        k_counts / max(k_counts.sum(), 1), draws, sweeps, time.perf_counter() - t0,
        {k: took[k] / max(tried[k], 1) for k in tried})
