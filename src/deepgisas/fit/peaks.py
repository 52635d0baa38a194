"""An orientation distribution as separate peaks, each with its weight, position and errors."""

from __future__ import annotations

import numpy as np


def peaks(probability: np.ndarray, draws: np.ndarray, xi_deg: np.ndarray,
          cov: np.ndarray | None = None, reach: int = 2) -> list[dict[str, float]]:
    """The distribution as separate peaks: runs of non-zero bins (around the 60 deg circle,
    gaps of one bin joined), each with its total weight, weighted mean xi (deg, in [0, 60)),
    ``std`` from the Laplace covariance ``cov`` [bins, bins] of the weights (nuisance
    marginalised; capped at 1, a weight that could be anything) and ``std_bootstrap`` from
    the bootstrap draws [n, bins] (nuisance held), each for the weight within ``reach`` bins
    of the run (weight moves between neighbouring bins, which a coarse detector hardly tells
    apart)."""
    bins = probability.shape[0]
    on = probability > 1e-3 * max(float(probability.max()), 1e-300)
    if not on.any():
        return []
    runs: list[np.ndarray] = []
    if on.all():
        runs.append(np.arange(bins))
    else:
        start = int(np.flatnonzero(~on)[0])  # walk the circle from an empty bin
        order = (start + np.arange(bins)) % bins
        current: list[int] = []
        gap = 0
        for k in order:
            if on[k]:
                if current and gap > 1:
                    runs.append(np.array(current))
                    current = []
                current.append(int(k))
                gap = 0
            else:
                gap += 1
        runs.append(np.array(current))
    out = []
    for run in runs:
        window = np.unique((run[:, None] + np.arange(-reach, reach + 1)) % bins)
        unwrapped = np.unwrap(xi_deg[run] * (2 * np.pi / 60.0)) * (60.0 / (2 * np.pi))
        weight = float(probability[run].sum())
        mean = float((unwrapped * probability[run]).sum() / weight) % 60.0
        boot = float(draws[:, window].sum(1).std()) if draws.shape[0] > 1 else float("nan")
        lap = min(float(np.sqrt(max(cov[np.ix_(window, window)].sum(), 0.0))), 1.0) \
            if cov is not None else float("nan")
        out.append({"xi_deg": 0.0 if mean > 60.0 - 1e-6 else mean, "weight": weight,
                    "std": lap, "std_bootstrap": boot})
    return sorted(out, key=lambda q: -q["weight"])
