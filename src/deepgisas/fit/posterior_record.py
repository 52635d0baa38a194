"""What an orientation chain leaves: the posterior's summary (:class:`OrientationPosterior`)
from its record, whether it has settled, and the prior's terms that every move of the chains
shares (:mod:`deepgisas.fit.posterior` describes the method)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

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


def log_birth_prior(w: np.ndarray, u: float) -> float:
    """log f_(K+1)((1 - u) w, u) - log f_K(w): the prior's density ratio of a birth that takes
    a share u from the K weights w (and minus that of the death that undoes it)."""
    return _log_f(np.append((1 - u) * w, u)) - _log_f(w)


def birth_probability(k: int, lo: int, hi: int) -> float:
    """The probability that a chain with ``k`` domains proposes a birth rather than a death,
    for ``lo`` to ``hi`` domains: 1 at the lower end, 0 at the upper, else 1/2."""
    if lo == hi or k >= hi:
        return 0.0
    return 1.0 if k <= lo else 0.5


def kept_from(sweeps: int, burn: float) -> int:
    """The first sweep kept: after the burn-in, adaptation included."""
    return max(int(burn * sweeps), min(10, sweeps // 2))


def split_tv(kept: np.ndarray) -> float:
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
    first = kept_from(sweeps, burn)
    draws = np.asarray(samples[first:])
    kept = np.asarray(rbs[first:])
    mean = kept.mean(0)
    split = split_tv(kept)
    k_counts = np.bincount((draws > 0).sum(1) - lo, minlength=hi - lo + 1).astype(float)
    return OrientationPosterior(
        mean / mean.sum(), np.quantile(draws, 0.05, axis=0), np.quantile(draws, 0.95, axis=0),
        k_counts / max(k_counts.sum(), 1), draws, sweeps, time.perf_counter() - t0,
        {k: took[k] / max(tried[k], 1) for k in tried if tried[k]}, split)

