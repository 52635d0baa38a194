"""The posterior of an orientation distribution given the counts: which xi bins, with what
weights, and how sure.

At the fitted nuisance the pattern is exactly linear in the domains' weights: with the
single-domain patterns B [N, bins] (one per xi bin), the scale s and the background b,

    m(w) = s B w + b,        counts D_i ~ Poisson(m_i(w)).

The prior is the template's, the one its training data are drawn from: K non-zero bins
with K uniform on ``nonzero`` = [lo, hi], the support uniform among the K-subsets of the bins,
and the weights i.i.d. uniform numbers normalised to sum 1, whose density on the simplex is
f_K(w) = max(w)^-K / K (:func:`~deepgisas.templates.orientation_weight_logpdf`; even weights
are favoured); the scale and the background are flat in their logs. The posterior over
(support, weights, scale, background) is sampled by reversible-jump Markov chain Monte Carlo
(Green 1995) in the domains' amplitudes c = s w (so s = sum(c)); there the prior density of c
is max(c)^-K / K. One sweep:

- for each domain in turn, its bin drawn from its exact conditional over every free bin
  (Gibbs: the likelihood of all bins at once, one [N, bins] pass); the posterior mean is
  accumulated from these conditionals (Rao-Blackwell), so a single domain's posterior is the
  brute-force one over the bins, exactly;
- Metropolis-Hastings moves of all amplitudes at once, Gaussian with the inverse of the
  observed Fisher information at the current state (the Hastings ratio takes it at both
  ends): bright data fix the amplitudes to a part in 10^4, which a fixed-step random walk
  never finds;
- a random walk in log b;
- a birth or a death. A new bin j takes a share u of the scale, the others keeping 1 - u of
  their amplitudes (Jacobian (1 - u)^(K-1)); (j, u) come from a mixture: half blind (j
  uniform among the free bins, u ~ Beta(1, K)), half led by the data (j with probability
  proportional to the likelihood gain at its best share u*_j, u normal around it truncated
  to (0, 1)). A death removes a domain and rescales the rest; its acceptance evaluates the
  same proposal density from the reduced state, so the pair is reversible;
- replacements: a domain removed and a new one born from the reduced state with the same
  proposal, the Hastings ratio taking the reverse proposal's density: a domain jumps across
  the bins with its weight re-chosen, which single-bin Gibbs moves of a bright mixture do not.

The chain starts at the best support found by greedy forward selection with swaps (Newton
fits of the amplitudes on each candidate support), so bright mixtures start at their mode.
With the scale and background held (``sample_levels`` False) the chain runs in (s, w) with
blind births and random-walk weight transfers instead. Bands are per-bin quantiles of the
samples.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from deepgisas.sample import RandomBins
from deepgisas.templates import orientation_weight_logpdf as _log_f

SETTLED_TV = 0.1  # split_tv above this: the chain has not settled (a warning)


@dataclass(frozen=True)
class OrientationPosterior:
    """``mean`` [bins] (sums to 1), ``low`` / ``high`` [bins]: the 5 % and 95 % quantiles of
    each bin's weight; ``k_probability`` [hi - lo + 1]: the posterior of the number of
    domains; ``samples`` [S, bins] (after burn-in); ``sweeps``, ``seconds``; ``acceptance``:
    of each kind of move; ``split_tv``: the total variation distance between the means of the
    first and the second half of the kept sweeps (NaN with fewer than 10), small when the
    chain has settled."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    k_probability: np.ndarray
    samples: np.ndarray
    sweeps: int
    seconds: float
    acceptance: dict[str, float]
    split_tv: float


class _Chain:
    """The data on the counted pixels and the Poisson log-likelihood of linear models."""

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

    def loglik_moves(self, base_pos: torch.Tensor, base_sum: torch.Tensor, amp: float
                     ) -> torch.Tensor:
        """[bins]: :meth:`loglik` of base + amp B_j for every bin j (one fused pass)."""
        x = torch.addcmul(base_pos[:, None], self.b_pos,
                          torch.tensor(amp, dtype=self.b_pos.dtype))
        return self.d_pos @ x.clamp_min_(1e-300).log_() - (base_sum + amp * self.col)

    def model(self, bins: list[int], w: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The model of weights ``w`` in ``bins`` at the chain's scale and background."""
        wt = torch.as_tensor(w, dtype=self.b_pos.dtype)
        idx = torch.as_tensor(bins)
        m_pos = self.scale * (self.b_pos[:, idx] @ wt) + self.background
        m_sum = self.scale * (self.col[idx] @ wt) + self.background * self.n
        return m_pos, m_sum

    def amplitude_model(self, bins: list[int], c: torch.Tensor, bg: float
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """The model of amplitudes ``c`` in ``bins`` over background ``bg``."""
        idx = torch.as_tensor(bins, dtype=torch.long)
        return self.b_pos[:, idx] @ c + bg, self.col[idx] @ c + bg * self.n

    def fit_support(self, bins: list[int], c0: torch.Tensor, bg: float, iters: int = 40
                    ) -> tuple[torch.Tensor, float]:
        """Maximum-likelihood amplitudes (>= 0) on a support, by projected Newton steps from
        ``c0``; the log-likelihood there."""
        idx = torch.as_tensor(bins, dtype=torch.long)
        b, col, d = self.b_pos[:, idx], self.col[idx], self.d_pos
        c = c0.clone().clamp_min(0)

        def ll(c: torch.Tensor) -> float:
            return float(self.loglik(b @ c + bg, col @ c + bg * self.n))

        cur = ll(c)
        for _ in range(iters):
            m = (b @ c + bg).clamp_min(1e-300)
            g = b.T @ (d / m) - col
            h = (b * (d / m**2)[:, None]).T @ b
            free = (c > 0) | (g > 0)
            if not bool(free.any()):
                break
            step = torch.zeros_like(c)
            hf = h[free][:, free]
            hf = hf + 1e-12 * (float(hf.diagonal().max()) + 1e-300) * torch.eye(
                int(free.sum()), dtype=c.dtype)
            step[free] = torch.linalg.solve(hf, g[free])
            t, new, cn = 1.0, -math.inf, c
            while t > 1e-8:
                cn = (c + t * step).clamp_min(0)
                new = ll(cn)
                if new >= cur:
                    break
                t *= 0.5
            if new < cur:
                break
            gained, c, cur = new - cur, cn, new
            if gained < 1e-7:
                break
        return c, cur

    def line_gains(self, m_pos: torch.Tensor, m_sum: torch.Tensor, idx: torch.Tensor,
                   scale: float, shift_pos: torch.Tensor | None, shift_sum: float,
                   upper: float, t0: torch.Tensor | None = None, steps: int = 6
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Along the lines m + t d_j, d_j = scale B_j - shift (bins ``idx``), t in
        [0, upper]: the best t_j (Newton steps from ``t0``, else 0, all lines at once), the
        curvature h_j of the log-likelihood there and its gain over t = 0."""
        d = self.d_pos[:, None]
        d_pos = scale * self.b_pos[:, idx]
        if shift_pos is not None:
            d_pos = d_pos - shift_pos[:, None]
        d_sum = scale * self.col[idx] - shift_sum
        t = torch.zeros(len(idx), dtype=d_pos.dtype) if t0 is None else t0.clone()
        for _ in range(steps):
            m = (m_pos[:, None] + t * d_pos).clamp_min(1e-300)
            r = d / m
            g = (r * d_pos).sum(0) - d_sum
            h = (r / m * d_pos * d_pos).sum(0)
            t = (t + g / h.clamp_min(1e-300)).clamp(0, upper)
        m = (m_pos[:, None] + t * d_pos).clamp_min(1e-300)
        h = (d / m**2 * d_pos * d_pos).sum(0)
        gain = (d * torch.log(m)).sum(0) - t * d_sum \
            - (self.d_pos * torch.log(m_pos.clamp_min(1e-300))).sum()
        return t, h, gain

    def candidates(self, m_pos: torch.Tensor, scale: float, taken: list[int], many: int
                   ) -> torch.Tensor:
        """The ``many`` free bins of steepest ascent along the lines of :meth:`line_gains`
        at t = 0 (one matrix-vector product; the shift adds the same to every bin)."""
        r = self.d_pos / m_pos.clamp_min(1e-300)
        g = scale * (self.b_pos.T @ r - self.col)
        if taken:
            g[taken] = -torch.inf
        return torch.topk(g, min(many, g.numel() - len(taken))).indices

    def add_gains(self, m_pos: torch.Tensor, m_sum: torch.Tensor, taken: list[int],
                  many: int = 12) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Bins ``idx`` and, adding amplitude a to each with the rest held, its best a*, the
        gain in log-likelihood there: the ``many`` most promising free bins, or every bin
        from an empty model (then each alone, at its exact amplitude)."""
        if float(m_pos.min()) <= 0:
            idx = torch.arange(self.b_pos.shape[1])
            t0 = self.d_pos.sum() / self.col.clamp_min(1e-300)
        else:
            idx, t0 = self.candidates(m_pos, 1.0, taken, many), None
        a, _, gain = self.line_gains(m_pos, m_sum, idx, 1.0, None, 0.0, math.inf, t0)
        if taken:
            gain[torch.isin(idx, torch.as_tensor(taken))] = -torch.inf
        return idx, a, gain


def _log_birth_prior(w: np.ndarray, u: float) -> float:
    """log f_(K+1)((1 - u) w, u) - log f_K(w): the prior's density ratio of a birth that takes
    a share u from the K weights w (and minus that of the death that undoes it)."""
    return _log_f(np.append((1 - u) * w, u)) - _log_f(w)


def _birth_probability(k: int, lo: int, hi: int) -> float:
    if lo == hi or k >= hi:
        return 0.0
    return 1.0 if k <= lo else 0.5


def _start(chain: _Chain, bg: float, lo: int, hi: int, starts: list[list[int]]
           ) -> tuple[list[int], torch.Tensor]:
    """The support to start from: greedy forward selection up to ``hi`` domains (the best of
    the 3 bins of most gain, each fitted with the rest); the size of best log-likelihood
    less (K / 2) log(counts) (BIC), at least ``lo``; then swaps (each member, then each pair,
    re-chosen greedily) while one gains. Each support in ``starts`` is fitted too; the best
    by the same score is kept."""
    dtype = chain.b_pos.dtype
    total = float(chain.d_pos.sum())
    bins: list[int] = []
    c = torch.zeros(0, dtype=dtype)
    best: tuple[float, list[int], torch.Tensor] | None = None

    def grow(bins: list[int], c: torch.Tensor, tries: int
             ) -> list[tuple[list[int], torch.Tensor, float]]:
        m_pos, m_sum = chain.amplitude_model(bins, c, bg)
        idx, a, gain = chain.add_gains(m_pos, m_sum, bins)
        out = []
        for n in torch.topk(gain, tries).indices.tolist():
            j = int(idx[n])
            cj, ll = chain.fit_support(bins + [j], torch.cat([c, a[n:n + 1]]), bg)
            out.append((bins + [j], cj, ll))
        return out

    def extend(bins: list[int], c: torch.Tensor, tries: int
               ) -> tuple[list[int], torch.Tensor, float]:
        return max(grow(bins, c, tries), key=lambda r: r[2])

    def score(k: int, ll: float) -> float:
        return ll - 0.5 * k * math.log(max(total, 2.0))

    for k in range(1, hi + 1):
        bins, c, ll = extend(bins, c, 3)
        if k >= lo and (best is None or score(k, ll) > best[0]):
            best = (score(k, ll), list(bins), c.clone())
    assert best is not None
    bins, c = best[1], best[2]
    ll = best[0] + 0.5 * len(bins) * math.log(max(total, 2.0))
    for _ in range(3):  # swaps: each member, then each pair, against the best
        moved = False     # replacements
        for drop in [(i,) for i in range(len(bins))] + list(
                itertools.combinations(range(len(bins)), 2)):
            nb = [b for n, b in enumerate(bins) if n not in drop]
            nc = c[[n for n in range(len(bins)) if n not in drop]]
            for _ in drop:
                nb, nc, nll = extend(nb, nc, 2)
            if nll > ll + 1e-6:
                bins, c, ll, moved = nb, nc, nll, True
                break
        if not moved:
            break
    best = (score(len(bins), ll), bins, c)
    for start in starts:
        s0 = list(dict.fromkeys(start))[:hi]
        if len(s0) >= lo:
            c0 = torch.full((len(s0),), float(chain.d_pos.sum()) / max(
                float(chain.col[s0].sum()), 1e-300), dtype=dtype)
            cs, ll = chain.fit_support(s0, c0, bg)
            keep = [n for n in range(len(s0)) if float(cs[n]) > 0]  # bins the fit dropped
            if len(keep) >= lo and len(keep) < len(s0):
                s0, cs = [s0[n] for n in keep], cs[keep]
            if score(len(s0), ll) > best[0]:
                best = (score(len(s0), ll), s0, cs)
    assert best is not None
    _, bins, c = best
    floor = 1e-6 * float(c.sum()) + 1e-300
    return bins, c.clamp_min(floor)


def _truncnorm_logpdf(x: float, mu: float, sd: float, hi: float) -> float:
    """log density at x of a normal (mu, sd) truncated to (0, hi)."""
    r = sd * math.sqrt(2.0)
    mass = 0.5 * (math.erf((hi - mu) / r) - math.erf(-mu / r))
    z = (x - mu) / sd
    return -0.5 * z * z - math.log(sd * math.sqrt(2 * math.pi)) - math.log(max(mass, 1e-300))


class _Proposal:
    """A birth from one state: a new bin j takes a share u of the scale S, the others keeping
    1 - u of their amplitudes. q(j, u) is half blind (j uniform among the free bins,
    u ~ Beta(1, K)) and half led by the data: j among the ``many`` free bins of steepest
    ascent, with probability proportional to the likelihood gain at its best share u*_j, and
    u normal around u*_j truncated to (0, 1)."""

    def __init__(self, chain: _Chain, m_pos: torch.Tensor, m_sum: torch.Tensor,
                 bins: list[int], total: float, bg: float, k: int, many: int = 12) -> None:
        bins_n = chain.b_pos.shape[1]
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


def _support_of(weights: np.ndarray, hi: int) -> list[int]:
    """The largest ``hi`` bins with weight of a start, peaks (local maxima over the circular
    bins) first: a smooth distribution such as a network's gives its peaks, not the
    neighbours of its highest one."""
    w = np.asarray(weights, dtype=np.float64)
    peak = (w >= np.roll(w, 1)) & (w >= np.roll(w, -1)) & (w > 0)
    order = [int(i) for i in np.argsort(-w) if peak[i]]
    order += [int(i) for i in np.argsort(-w) if w[i] > 0 and not peak[i]]
    return order[:hi]


def _sample_amplitudes(basis: np.ndarray, data: np.ndarray, background: float,
                       prior: RandomBins, starts: list[np.ndarray], seed: int,
                       max_sweeps: int, seconds: float, burn: float, transfers: int,
                       progress: Callable[[float, float], None] | None, extend: float = 0.0
                       ) -> OrientationPosterior:
    """The chain in amplitudes (see the module docstring)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    lo, hi = prior.nonzero
    bins_n = basis.shape[1]
    chain = _Chain(torch.from_numpy(np.asarray(basis, dtype=np.float64)),
                   torch.from_numpy(np.asarray(data, dtype=np.float64)), 1.0, background,
                   int(data.shape[0]))
    bg = float(background)
    s, c = _start(chain, bg, lo, hi, [_support_of(w, hi) for w in starts])
    b_all, col = chain.b_pos, chain.col
    m_pos, m_sum = chain.amplitude_model(s, c, bg)
    ll = float(chain.loglik(m_pos, m_sum))
    eps, bg_step = 2.38 / math.sqrt(len(s)), 0.1
    tried = {"amplitudes": 0, "background": 0, "birth": 0, "death": 0, "replace": 0}
    took = dict.fromkeys(tried, 0)
    rbs: list[np.ndarray] = []
    samples: list[np.ndarray] = []
    sweeps = 0

    def fisher(bins: list[int], m_pos: torch.Tensor) -> torch.Tensor:
        b = b_all[:, torch.as_tensor(bins, dtype=torch.long)]
        h = (b * (chain.d_pos / m_pos.clamp_min(1e-300) ** 2)[:, None]).T @ b
        return h + 1e-10 * float(h.diagonal().max() + 1e-300) * torch.eye(len(bins),
                                                                           dtype=h.dtype)

    def log_prior(c: torch.Tensor) -> float:  # within one size: max(c)^-K (/ K)
        return -len(c) * math.log(float(c.max()))

    while sweeps < max_sweeps:
        elapsed = time.perf_counter() - t0
        if sweeps >= 20 and elapsed >= seconds and (
                elapsed >= seconds + extend or (sweeps % 5 == 0 and not _split_tv(
                    np.asarray(rbs[_kept(sweeps, burn):])) > SETTLED_TV)):
            break  # the budget is spent, and the chain has settled or the extension too
        burning = sweeps < 10
        total = float(c.sum())
        rb = np.zeros(bins_n)
        # 1. each domain's bin from its exact conditional (Gibbs), Rao-Blackwellised
        for i in rng.permutation(len(s)):
            ci = float(c[i])
            base_pos = m_pos - ci * b_all[:, s[i]]
            base_sum = m_sum - ci * col[s[i]]
            cand = chain.loglik_moves(base_pos, base_sum, ci)
            taken = [s[j] for j in range(len(s)) if j != i]
            if taken:
                cand[taken] = -torch.inf
            p = torch.softmax(cand, 0).numpy()
            rb += ci / total * p
            j = int(rng.choice(bins_n, p=p / p.sum()))
            s[i] = j
            m_pos, m_sum = base_pos + ci * b_all[:, j], base_sum + ci * col[j]
            ll = float(cand[j])
        # 2. the amplitudes, Gaussian with the inverse Fisher information at both ends
        h_cur = fisher(s, m_pos)
        for _ in range(transfers):
            l_cur = torch.linalg.cholesky(h_cur)
            z = torch.from_numpy(rng.standard_normal(len(s)))
            step = eps * torch.linalg.solve_triangular(l_cur.T, z[:, None], upper=True)[:, 0]
            cn = c + step
            tried["amplitudes"] += 1
            if bool((cn <= 0).any()):
                continue
            n_pos, n_sum = chain.amplitude_model(s, cn, bg)
            new = float(chain.loglik(n_pos, n_sum))
            h_new = fisher(s, n_pos)
            l_new = torch.linalg.cholesky(h_new)
            fwd = float(torch.log(l_cur.diagonal()).sum()) \
                - 0.5 * float(step @ h_cur @ step) / eps**2
            rev = float(torch.log(l_new.diagonal()).sum()) \
                - 0.5 * float(step @ h_new @ step) / eps**2
            if math.log(rng.uniform()) < new - ll + log_prior(cn) - log_prior(c) + rev - fwd:
                c, m_pos, m_sum, ll, h_cur = cn, n_pos, n_sum, new, h_new
                took["amplitudes"] += 1
        if burning:
            rate = took["amplitudes"] / max(tried["amplitudes"], 1)
            eps *= 1.15 if rate > 0.3 else 0.85
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
        birth_p = _birth_probability(k, lo, hi)
        total = float(c.sum())
        if lo < hi and rng.uniform() < birth_p:
            tried["birth"] += 1
            q = _Proposal(chain, m_pos, m_sum, s, total, bg, k)
            j, u = q.draw(rng)
            n_pos = (1 - u) * (m_pos - bg) + bg + u * total * b_all[:, j]
            n_sum = (1 - u) * (m_sum - bg * chain.n) + bg * chain.n + u * total * col[j]
            new = float(chain.loglik(n_pos, n_sum))
            death_p = 1.0 - _birth_probability(k + 1, lo, hi)
            dprior = _log_birth_prior((c / total).numpy(), u)
            log_a = (new - ll + math.log(death_p / birth_p) + dprior
                     + (k - 1) * math.log1p(-u) - math.log(bins_n - k) - q.log_density(j, u))
            if math.log(rng.uniform()) < log_a:
                s.append(j)
                c = torch.cat([c * (1 - u), torch.tensor([u * total], dtype=c.dtype)])
                m_pos, m_sum, ll = n_pos, n_sum, new
                took["birth"] += 1
        elif lo < hi:
            tried["death"] += 1
            i = int(rng.integers(k))
            u = float(c[i]) / total
            rest = [b for n, b in enumerate(s) if n != i]
            n_pos = (m_pos - bg - u * total * b_all[:, s[i]]) / (1 - u) + bg
            n_sum = (m_sum - bg * chain.n - u * total * col[s[i]]) / (1 - u) + bg * chain.n
            new = float(chain.loglik(n_pos, n_sum))
            q = _Proposal(chain, n_pos, n_sum, rest, total, bg, k - 1)
            back = _birth_probability(k - 1, lo, hi)
            dprior = _log_birth_prior(np.delete((c / total).numpy(), i) / (1 - u), u)
            log_a = -(ll - new + math.log((1.0 - birth_p) / back) + dprior
                      + (k - 2) * math.log1p(-u) - math.log(bins_n - k + 1)
                      - q.log_density(s[i], u))
            if math.log(rng.uniform()) < log_a:
                s.pop(i)
                c = torch.cat([c[:i], c[i + 1:]]) / (1 - u)
                m_pos, m_sum, ll = n_pos, n_sum, new
                took["death"] += 1
        # 5. replacements: a domain removed and a new one born from the reduced state
        for _ in range(len(s) if len(s) > 1 else 0):
            k, total = len(s), float(c.sum())
            i = int(rng.integers(k))
            ui = float(c[i]) / total
            rest = [b for n, b in enumerate(s) if n != i]
            r_pos = (m_pos - bg - ui * total * b_all[:, s[i]]) / (1 - ui) + bg
            r_sum = (m_sum - bg * chain.n - ui * total * col[s[i]]) / (1 - ui) + bg * chain.n
            q = _Proposal(chain, r_pos, r_sum, rest, total, bg, k - 1)
            j, u = q.draw(rng)
            n_pos = (1 - u) * (r_pos - bg) + bg + u * total * b_all[:, j]
            n_sum = (1 - u) * (r_sum - bg * chain.n) + bg * chain.n + u * total * col[j]
            new = float(chain.loglik(n_pos, n_sum))
            tried["replace"] += 1
            keep = torch.cat([c[:i], c[i + 1:]]) / (1 - ui) * (1 - u)
            dprior = (_log_f(np.append(keep.numpy(), u * total) / total)
                     - _log_f((c / total).numpy()))
            log_a = (new - ll + (k - 2) * (math.log1p(-u) - math.log1p(-ui)) + dprior
                     + q.log_density(s[i], ui) - q.log_density(j, u))
            if math.log(rng.uniform()) < log_a:
                s = rest + [j]
                c = torch.cat([keep, torch.tensor([u * total], dtype=c.dtype)])
                m_pos, m_sum, ll = n_pos, n_sum, new
                took["replace"] += 1
        if len(s) != k:
            eps = min(eps, 2.38 / math.sqrt(len(s)))
        sweeps += 1
        full = np.zeros(bins_n)
        full[s] = (c / c.sum()).numpy()
        rbs.append(rb)
        samples.append(full)
        if progress is not None:
            progress(time.perf_counter() - t0, seconds)
    return summarise_chains(rbs, samples, sweeps, lo, hi, t0, tried, took, burn)


def _kept(sweeps: int, burn: float) -> int:
    """The first sweep kept: after the burn-in, adaptation included."""
    return max(int(burn * sweeps), min(10, sweeps // 2))


def _split_tv(kept: np.ndarray) -> float:
    """Total variation between the mean distributions of the two halves of ``kept``
    [S, bins] (NaN with fewer than 5 per half)."""
    half = len(kept) // 2
    if half < 5:
        return float("nan")
    a, b = kept[:half].mean(0), kept[half:].mean(0)
    return 0.5 * float(np.abs(a / a.sum() - b / b.sum()).sum())


def summarise_chains(rbs: list[np.ndarray], samples: list[np.ndarray], sweeps: int, lo: int,
                     hi: int, t0: float, tried: dict[str, int], took: dict[str, int],
                     burn: float) -> OrientationPosterior:
    """The posterior from a chain's record: per sweep, the Rao-Blackwellised bin means ``rbs``
    and the drawn weights ``samples`` [bins] each; the first ``burn`` fraction of the
    ``sweeps`` is dropped. ``lo`` / ``hi``: the range of the number of domains; ``tried`` /
    ``took``: proposals and acceptances per move; ``t0``: when sampling began."""
    first = _kept(sweeps, burn)
    draws = np.asarray(samples[first:])
    kept = np.asarray(rbs[first:])
    mean = kept.mean(0)
    split = _split_tv(kept)
    k_counts = np.bincount((draws > 0).sum(1) - lo, minlength=hi - lo + 1).astype(float)
    return OrientationPosterior(
        mean / mean.sum(), np.quantile(draws, 0.05, axis=0), np.quantile(draws, 0.95, axis=0),
        k_counts / max(k_counts.sum(), 1), draws, sweeps, time.perf_counter() - t0,
        {k: took[k] / max(tried[k], 1) for k in tried if tried[k]}, split)


def _sample_fixed_scale(basis: np.ndarray, data: np.ndarray, scale: float,
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
    sc, bg = chain.scale, chain.background
    ll = float(chain.loglik(m_pos, m_sum))
    rbs: list[np.ndarray] = []
    samples: list[np.ndarray] = []
    step = 0.05
    tried: dict[str, int] = {"transfer": 0, "jump": 0}
    took: dict[str, int] = {"transfer": 0, "jump": 0}
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
            cand = chain.loglik_moves(base_pos, base_sum, wi)
            taken = [s[j] for j in range(len(s)) if j != i]
            if taken:
                cand[taken] = -torch.inf
            p = torch.softmax(cand, 0).numpy()
            rb += w[i] * p
            j = int(rng.choice(bins_n, p=p / p.sum()))
            s[i] = j
            m_pos, m_sum = base_pos + wi * b_all[:, j], base_sum + wi * chain.col[j]
            ll = float(cand[j])
        # 2. weight transfers between two domains (random walk; the prior's density ratio)
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
                # the prior's density ratio over the flat one's (k), whose u ~ Beta(1, k)
                dprior = _log_birth_prior(w, u) - math.log(k)
                if math.log(rng.uniform()) < new - ll + math.log(ratio) + dprior:
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
                dprior = -(_log_birth_prior(np.delete(w, i) / rest, float(w[i]))
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


def orientation_posterior(basis: np.ndarray, data: np.ndarray, scale: float,
                          background: float, prior: RandomBins,
                          start: np.ndarray | Sequence[np.ndarray] | None = None, seed: int = 0,
                          max_sweeps: int = 400, seconds: float = 10.0, burn: float = 0.2,
                          transfers: int = 8, sample_levels: bool = True,
                          progress: Callable[[float, float], None] | None = None,
                          extend: float = 0.0) -> OrientationPosterior:
    """Sample the posterior of the weights over the bins (see the module docstring).

    ``basis`` [N, bins]: single-domain patterns on the counted pixels; ``data`` [N]: counts;
    ``scale``, ``background``: of the fitted model; ``prior``: the template's random_bins;
    ``start``: weights [bins], or a list of them, whose peaks are candidate starts (e.g. the
    maximum-likelihood fit's and the network's; the fixed-scale chain takes the first).
    Runs ``max_sweeps`` sweeps or ``seconds``, whichever ends first (at least 20); the first
    ``burn`` of them are discarded.
    ``sample_levels``: sample the scale and background (else hold them, e.g. known);
    ``progress(elapsed, seconds)`` is called after each sweep. ``extend``: with the scale
    sampled, up to this many seconds more while the chain has not settled (``split_tv``
    above ``SETTLED_TV``), as long as ``max_sweeps`` allows."""
    starts = ([] if start is None else [np.asarray(start)] if np.ndim(start) == 1
              else [np.asarray(w) for w in start])
    if sample_levels:
        return _sample_amplitudes(basis, data, background, prior, starts, seed, max_sweeps,
                                  seconds, burn, transfers, progress, extend)
    return _sample_fixed_scale(basis, data, scale, background, prior,
                               starts[0] if starts else None, seed,
                               max_sweeps, seconds, burn, transfers, progress)
