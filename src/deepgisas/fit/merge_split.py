"""Merge and split moves of the orientation chain in amplitudes: two domains a few bins apart
become one between them, or one becomes two around it (Richardson and Green 1997).

Why: with bright data one domain at bin j and two at j - 1 and j + 1 can describe a rod
almost equally well. The two-domain state fits a little better and the prior charges it for
the extra domain, so the one-domain state can hold most of the posterior mass, yet a chain
of births, deaths and single-bin moves between them passes states that fit badly (one of
the pair gone, the other with its weight at the wrong bin) and does not cross in its
budget. A merge makes the crossing one step.

The moves are reversible on the set of (bin, amplitude) pairs, the target being the chain's
(:mod:`deepgisas.fit.posterior`): likelihood times P(K) / C(bins, K) times max(c)^-K / K.

- Split, chosen with probability p_s(K) (:func:`~deepgisas.fit.posterior_record.birth_probability`):
  a domain m (uniform among the K) at bin j_m with amplitude c_m; an arc of bins
  (a, a + 1, ..., a + d) with 1 <= d <= ``reach`` that holds j_m, its two ends free
  (uniform among such arcs); u uniform on (0, 1); the ends take u c_m and (1 - u) c_m
  (Jacobian c_m).
- Merge, chosen with probability 1 - p_s(K): an unordered pair of domains within ``reach``
  bins of each other (uniform among such pairs); the merged domain takes their summed
  amplitude at a bin of the arc between them that no other domain holds, drawn from the
  likelihood's conditional over those bins (Gibbs-like, so a rod split over j - 1 and j + 1
  lands at j).

Each move's acceptance evaluates the other's proposal density, so the pair satisfies
detailed balance."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from deepgisas.fit.amplitude_state import Chain
from deepgisas.fit.posterior_record import birth_probability


@dataclass
class State:
    """The chain's support ``s`` (bins), amplitudes ``c``, model on the counted pixels, its
    total, and the log-likelihood."""

    s: list[int]
    c: torch.Tensor
    m_pos: torch.Tensor
    m_sum: torch.Tensor
    ll: float


def _log_set_prior(k: int, c: torch.Tensor, bins: int) -> float:
    """log of 1 / C(bins, K) times max(c)^-K / K (P(K) is flat and cancels)."""
    return -math.log(math.comb(bins, k)) - k * math.log(float(c.max())) - math.log(k)


def _arcs_through(j: int, taken: set[int], bins: int, reach: int) -> list[tuple[int, int]]:
    """The arcs (a, d): bins a .. a + d (mod bins), 1 <= d <= reach, that hold bin j and
    whose two ends are not in ``taken``."""
    out = []
    for d in range(1, reach + 1):
        for back in range(d + 1):
            a = (j - back) % bins
            if a not in taken and (a + d) % bins not in taken:
                out.append((a, d))
    return out


def _arc_of(i: int, j: int, bins: int, reach: int) -> tuple[int, int] | None:
    """The arc (a, d) from one of bins i, j to the other within ``reach`` bins, else None."""
    if (j - i) % bins <= reach:
        return i, (j - i) % bins
    if (i - j) % bins <= reach:
        return j, (i - j) % bins
    return None


def _merge_pairs(s: list[int], bins: int, reach: int) -> list[tuple[int, int]]:
    """The index pairs of domains within ``reach`` bins of each other."""
    return [(p, q) for p in range(len(s)) for q in range(p + 1, len(s))
            if _arc_of(s[p], s[q], bins, reach) is not None]


def _merge_choices(chain: Chain, st: State, p: int, q: int, bins: int, reach: int
                   ) -> tuple[list[int], np.ndarray, torch.Tensor, torch.Tensor, float,
                              torch.Tensor]:
    """For merging domains p and q of ``st``: the candidate bins (the arc between them, less
    other domains' bins), their log probabilities, the model without the pair (pixels, total),
    the merged amplitude and the log-likelihood of each candidate's merged model."""
    arc = _arc_of(st.s[p], st.s[q], bins, reach)
    assert arc is not None
    a, d = arc
    others = {b for n, b in enumerate(st.s) if n not in (p, q)}
    cand = [(a + t) % bins for t in range(d + 1) if (a + t) % bins not in others]
    cm = float(st.c[p] + st.c[q])
    base_pos = st.m_pos - float(st.c[p]) * chain.rows[st.s[p]] \
        - float(st.c[q]) * chain.rows[st.s[q]]
    base_sum = st.m_sum - float(st.c[p]) * chain.col[st.s[p]] \
        - float(st.c[q]) * chain.col[st.s[q]]
    lls = chain.loglik(base_pos + cm * chain.rows[cand], base_sum + cm * chain.col[cand])
    sub = lls.numpy()
    log_prob = sub - sub.max()
    log_prob -= math.log(np.exp(log_prob).sum())
    return cand, log_prob, base_pos, base_sum, cm, lls


def merge_or_split(chain: Chain, st: State, lo: int, hi: int, rng: np.random.Generator,
                   reach: int) -> tuple[State, str, bool]:
    """One merge or split attempt from ``st``; the new state (or ``st``), which move was
    tried ("merge", "split" or "" when neither can be) and whether it was accepted."""
    bins = chain.rows.shape[0]
    k = len(st.s)
    reach = min(reach, (bins - 1) // 2)
    if lo >= hi or reach < 1:
        return st, "", False
    p_split = birth_probability(k, lo, hi)
    if rng.uniform() < p_split:
        m = int(rng.integers(k))
        rest = [b for n, b in enumerate(st.s) if n != m]
        arcs = _arcs_through(st.s[m], set(rest), bins, reach)
        if not arcs:
            return st, "split", False
        a, d = arcs[int(rng.integers(len(arcs)))]
        u = float(rng.uniform())
        cm = float(st.c[m])
        ends = [a, (a + d) % bins]
        c_new = torch.cat([st.c[:m], st.c[m + 1:],
                           torch.tensor([u * cm, (1 - u) * cm], dtype=st.c.dtype)])
        s_new = rest + ends
        jm = st.s[m]
        m_pos = st.m_pos + cm * (u * chain.rows[ends[0]] + (1 - u) * chain.rows[ends[1]]
                                 - chain.rows[jm])
        m_sum = st.m_sum + cm * (u * chain.col[ends[0]] + (1 - u) * chain.col[ends[1]]
                                 - chain.col[jm])
        new = State(s_new, c_new, m_pos, m_sum, float(chain.loglik(m_pos, m_sum)))
        pairs = _merge_pairs(s_new, bins, reach)
        cand, log_prob, *_ = _merge_choices(chain, new, k - 1, k, bins, reach)
        log_q_merge = (math.log(1.0 - birth_probability(k + 1, lo, hi)) - math.log(len(pairs))
                       + float(log_prob[cand.index(jm)]))
        log_q_split = math.log(p_split) - math.log(k) - math.log(len(arcs))
        log_a = (new.ll - st.ll + _log_set_prior(k + 1, c_new, bins)
                 - _log_set_prior(k, st.c, bins) + log_q_merge - log_q_split + math.log(cm))
        if math.log(rng.uniform()) < log_a:
            return new, "split", True
        return st, "split", False
    pairs = _merge_pairs(st.s, bins, reach)
    if not pairs:
        return st, "merge", False
    p, q = pairs[int(rng.integers(len(pairs)))]
    cand, log_prob, base_pos, base_sum, cm, lls = _merge_choices(chain, st, p, q, bins,
                                                                 reach)
    prob = np.exp(log_prob)
    pick = int(rng.choice(len(cand), p=prob / prob.sum()))
    j = cand[pick]
    keep = [n for n in range(k) if n not in (p, q)]
    s_new = [st.s[n] for n in keep] + [j]
    c_new = torch.cat([st.c[keep], torch.tensor([cm], dtype=st.c.dtype)])
    m_pos = base_pos + cm * chain.rows[j]
    m_sum = base_sum + cm * chain.col[j]
    new = State(s_new, c_new, m_pos, m_sum, float(lls[pick]))
    arcs = _arcs_through(j, {st.s[n] for n in keep}, bins, reach)
    log_q_split = math.log(birth_probability(k - 1, lo, hi)) - math.log(k - 1) \
        - math.log(len(arcs))
    log_q_merge = (math.log(1.0 - birth_probability(k, lo, hi)) - math.log(len(pairs))
                   + float(log_prob[pick]))
    # the reverse split's share u is uniform: its density, 1, does not enter
    log_a = (new.ll - st.ll + _log_set_prior(k - 1, c_new, bins)
             - _log_set_prior(k, st.c, bins) + log_q_split - log_q_merge - math.log(cm))
    if math.log(rng.uniform()) < log_a:
        return new, "merge", True
    return st, "merge", False
