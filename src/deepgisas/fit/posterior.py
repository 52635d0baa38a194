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
  never finds. They alternate between steps in c and steps in log c (Fisher information
  diag(c) H diag(c), Jacobian prod(c)): two domains a bin or two apart have nearly the same
  pattern, so the counts fix their sum but leave each free between 0 and the sum, where a
  step in c lands below zero and one in log c does not;
- a random walk in log b;
- a birth or a death. A new bin j takes a share u of the scale, the others keeping 1 - u of
  their amplitudes (Jacobian (1 - u)^(K-1)); (j, u) come from a mixture: half blind (j
  uniform among the free bins, u ~ Beta(1, K)), half led by the data (j with probability
  proportional to the likelihood gain at its best share u*_j, u normal around it truncated
  to (0, 1)). A death removes a domain and rescales the rest; its acceptance evaluates the
  same proposal density from the reduced state, so the pair is reversible;
- a merge of two domains up to ``reach`` bins apart into one between them, or a split of one
  into two around it (:mod:`deepgisas.fit.merge_split`): a rod that the data place between
  bins j - 1 and j + 1 may belong to one domain at j or to two, and without this move the
  chain, once in the two-domain state, did not find its way back within its budget;
- replacements: a domain removed and a new one born from the reduced state with the same
  proposal, the Hastings ratio taking the reverse proposal's density: a domain jumps across
  the bins with its weight re-chosen, which single-bin Gibbs moves of a bright mixture do not
  (:mod:`deepgisas.fit.replacements`);
- a shift of one or two domains by up to ``reach`` bins with every amplitude drawn anew from
  its Laplace approximation on the new support (:mod:`deepgisas.fit.shifts`): bright data fix
  the amplitudes of each support to a part in 10^4, and coupled domains (bins 6 and 23
  against 7 and 25) move only together and with new amplitudes.

The chain starts at the best support found by greedy forward selection with swaps (Newton
fits of the amplitudes on each candidate support), so bright mixtures start at their mode.
With the scale and background held (``sample_levels`` False) the chain runs in (s, w) with
blind births and random-walk weight transfers instead. Bands are per-bin quantiles of the
samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from deepgisas.fit.amplitude_chain import sample_amplitudes
from deepgisas.fit.fixed_scale_chain import sample_fixed_scale
from deepgisas.fit.posterior_record import SETTLED_TV, OrientationPosterior, summarise_chains
from deepgisas.sample import RandomBins

__all__ = ["SETTLED_TV", "OrientationPosterior", "orientation_posterior", "summarise_chains"]


def orientation_posterior(basis: np.ndarray, data: np.ndarray, scale: float,
                          background: float, prior: RandomBins,
                          start: np.ndarray | Sequence[np.ndarray] | None = None, seed: int = 0,
                          max_sweeps: int = 400, seconds: float = 10.0, burn: float = 0.2,
                          transfers: int = 8, sample_levels: bool = True,
                          progress: Callable[[float, float], None] | None = None,
                          extend: float = 0.0, reach: int = 6) -> OrientationPosterior:
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
    above ``SETTLED_TV``), as long as ``max_sweeps`` allows. ``reach``: with the scale sampled,
    merges and splits join or part domains up to this many bins apart, and shifts move them
    by up to this many bins (0: none of these moves)."""
    starts = ([] if start is None else [np.asarray(start)] if np.ndim(start) == 1
              else [np.asarray(w) for w in start])
    if sample_levels:
        return sample_amplitudes(basis, data, background, prior, starts, seed, max_sweeps,
                                  seconds, burn, transfers, progress, extend, reach)
    return sample_fixed_scale(basis, data, scale, background, prior,
                               starts[0] if starts else None, seed,
                               max_sweeps, seconds, burn, transfers, progress)

