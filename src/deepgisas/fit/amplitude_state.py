"""The state of the orientation chain in the domains' amplitudes (:class:`Chain`: its support,
amplitudes, model and log-likelihood, updated incrementally) and the support it starts from
(:func:`start_support`: greedy forward selection with swaps)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from scipy.optimize import nnls


class Chain:
    """The data on the counted pixels and the Poisson log-likelihood of linear models."""

    def __init__(self, basis: torch.Tensor, data: torch.Tensor, scale: float,
                 background: float, n: int) -> None:
        pos = data > 0
        # [bins, N+]: each bin's pattern on the pixels with counts (the log term needs only
        # those), contiguous
        self.rows = basis[pos].T.contiguous()
        self.d_pos = data[pos]
        self.col = basis.sum(0)  # [bins]: sum over all pixels of each pattern
        self.scale, self.background, self.n = scale, background, n

    def loglik(self, m_pos: torch.Tensor, m_sum: torch.Tensor) -> torch.Tensor:
        """Poisson log-likelihood (up to a constant) for models [..., N+] and their totals."""
        return (self.d_pos * torch.log(m_pos.clamp_min(1e-300))).sum(-1) - m_sum

    def loglik_moves(self, base_pos: torch.Tensor, base_sum: torch.Tensor, amp: float
                     ) -> torch.Tensor:
        """[bins]: :meth:`loglik` of base + amp B_j for every bin j (one fused pass)."""
        x = torch.addcmul(base_pos, self.rows, torch.tensor(amp, dtype=self.rows.dtype))
        return x.clamp_min_(1e-300).log_() @ self.d_pos - (base_sum + amp * self.col)

    def fisher(self, bins: list[int], m_pos: torch.Tensor) -> torch.Tensor:
        """The observed Fisher information [K, K] of the amplitudes on ``bins`` at the model
        ``m_pos``."""
        b = self.rows[torch.as_tensor(bins, dtype=torch.long)]
        return (b * (self.d_pos / m_pos.clamp_min(1e-300) ** 2)) @ b.T

    def model(self, bins: list[int], w: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The model of weights ``w`` in ``bins`` at the chain's scale and background."""
        wt = torch.as_tensor(w, dtype=self.rows.dtype)
        idx = torch.as_tensor(bins)
        m_pos = self.scale * (wt @ self.rows[idx]) + self.background
        m_sum = self.scale * (self.col[idx] @ wt) + self.background * self.n
        return m_pos, m_sum

    def amplitude_model(self, bins: list[int], c: torch.Tensor, bg: float
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """The model of amplitudes ``c`` in ``bins`` over background ``bg``."""
        idx = torch.as_tensor(bins, dtype=torch.long)
        return c @ self.rows[idx] + bg, self.col[idx] @ c + bg * self.n

    def fit_support(self, bins: list[int], c0: torch.Tensor, bg: float, iters: int = 40
                    ) -> tuple[torch.Tensor, float]:
        """Maximum-likelihood amplitudes (>= 0) on a support and the log-likelihood there.

        Newton's method with the bound in the step: each step goes to the maximum of the
        log-likelihood's quadratic model over the non-negative amplitudes (a bound-
        constrained least-squares problem in K unknowns, :func:`scipy.optimize.nnls`), then
        backtracks along it while the log-likelihood falls. It stops when the model promises
        less than 1e-8 or a step gains less than 1e-7. The bound is part of each step, so
        amplitudes at it and near-degenerate pairs (two bins of nearly the same pattern)
        converge in a few steps."""
        idx = torch.as_tensor(bins, dtype=torch.long)
        b, col, d = self.rows[idx], self.col[idx], self.d_pos  # b [K, N+]
        c = c0.clone().clamp_min(0)

        def ll(c: torch.Tensor) -> float:
            return float(self.loglik(c @ b + bg, col @ c + bg * self.n))

        cur = ll(c)
        for _ in range(iters):
            m = (c @ b + bg).clamp_min(1e-300)
            g = b @ (d / m) - col
            h = (b * (d / m**2)) @ b.T
            hn = h.cpu().numpy()
            top = float(hn.diagonal().max())
            if not top > 0:  # no pixel with counts sees these patterns
                break
            hn = hn + 1e-12 * top * np.eye(len(bins))
            # the model g.s - s.H.s / 2 over x = c + s >= 0 is, with H = L L^T, the least
            # squares |L^T x - L^-1 (g + H c)|^2
            chol = np.linalg.cholesky(hn)
            x, _ = nnls(chol.T, np.linalg.solve(chol, g.cpu().numpy() + hn @ c.cpu().numpy()))
            step = torch.from_numpy(x).to(c) - c
            if float(g @ step) - 0.5 * float(step @ h @ step) < 1e-8:
                break
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
        d = self.d_pos
        d_pos = scale * self.rows[idx]  # [lines, N+]
        if shift_pos is not None:
            d_pos = d_pos - shift_pos
        d_sum = scale * self.col[idx] - shift_sum
        t = torch.zeros(len(idx), dtype=d_pos.dtype) if t0 is None else t0.clone()
        for _ in range(steps):
            m = torch.addcmul(m_pos, t[:, None], d_pos).clamp_min_(1e-300)
            r = d_pos * d / m  # d_i d_pos_i / m_i: the gradient's terms
            g = r.sum(1) - d_sum
            h = (r.div_(m) * d_pos).sum(1)
            t = (t + g / h.clamp_min(1e-300)).clamp(0, upper)
        m = torch.addcmul(m_pos, t[:, None], d_pos).clamp_min_(1e-300)
        h = (d_pos * d / m).div_(m).mul_(d_pos).sum(1)
        gain = m.log_() @ d - t * d_sum - float(d @ torch.log(m_pos.clamp_min(1e-300)))
        return t, h, gain

    def candidates(self, m_pos: torch.Tensor, scale: float, taken: list[int], many: int
                   ) -> torch.Tensor:
        """The ``many`` free bins of steepest ascent along the lines of :meth:`line_gains`
        at t = 0 (one matrix-vector product; the shift adds the same to every bin)."""
        r = self.d_pos / m_pos.clamp_min(1e-300)
        g = scale * (self.rows @ r - self.col)
        if taken:
            g[taken] = -torch.inf
        return torch.topk(g, min(many, g.numel() - len(taken))).indices

    def add_gains(self, m_pos: torch.Tensor, m_sum: torch.Tensor, taken: list[int],
                  many: int = 12) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Bins ``idx`` and, adding amplitude a to each with the rest held, its best a*, the
        gain in log-likelihood there: the ``many`` most promising free bins, or every bin
        from an empty model (then each alone, at its exact amplitude)."""
        if float(m_pos.min()) <= 0:
            idx = torch.arange(self.rows.shape[0])
            t0 = self.d_pos.sum() / self.col.clamp_min(1e-300)
        else:
            idx, t0 = self.candidates(m_pos, 1.0, taken, many), None
        a, _, gain = self.line_gains(m_pos, m_sum, idx, 1.0, None, 0.0, math.inf, t0)
        if taken:
            gain[torch.isin(idx, torch.as_tensor(taken))] = -torch.inf
        return idx, a, gain


def start_support(chain: Chain, bg: float, lo: int, hi: int, starts: list[list[int]]
           ) -> tuple[list[int], torch.Tensor]:
    """The support to start from: greedy forward selection up to ``hi`` domains (the best of
    the 3 bins of most gain, each fitted with the rest); the size of best log-likelihood
    less (K / 2) log(counts) (BIC), at least ``lo``; then swaps (each member, then each pair,
    re-chosen greedily) while one gains. Each support in ``starts`` is fitted too; the best
    by the same score is kept."""
    dtype = chain.rows.dtype
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


def support_of(weights: np.ndarray, hi: int) -> list[int]:
    """The largest ``hi`` bins with weight of a start, peaks (local maxima over the circular
    bins) first: a smooth distribution such as a network's gives its peaks, not the
    neighbours of its highest one."""
    w = np.asarray(weights, dtype=np.float64)
    peak = (w >= np.roll(w, 1)) & (w >= np.roll(w, -1)) & (w > 0)
    order = [int(i) for i in np.argsort(-w) if peak[i]]
    order += [int(i) for i in np.argsort(-w) if w[i] > 0 and not peak[i]]
    return order[:hi]



def ridged_cholesky(h: torch.Tensor) -> torch.Tensor:
    """The Cholesky factor of ``h`` + 1e-10 max(diag h) I (a Fisher information that a
    nearly unidentified direction leaves singular to rounding)."""
    return torch.linalg.cholesky(h + 1e-10 * float(h.diagonal().max() + 1e-300)
                                 * torch.eye(len(h), dtype=h.dtype))
