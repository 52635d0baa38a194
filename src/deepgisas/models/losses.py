"""Losses and figures of xi distributions, and the coverage of parameter errors (the Gaussian
head's own likelihood is :func:`deepgisas.models.heads.gaussian_nll`).

All are pure batched tensor functions; ``p``, ``q`` are [B, bins] distributions over xi bins
spanning the 60 deg period.
"""

from __future__ import annotations

import torch
from torch import Tensor


def kl_divergence(target: Tensor, log_q: Tensor) -> Tensor:
    """KL(target || q) per sample [B], with 0 log 0 = 0; ``log_q`` are log-probabilities."""
    t = target.clamp_min(0)
    return torch.sum(torch.xlogy(t, t) - t * log_q, dim=-1)


def circular_emd(p: Tensor, q: Tensor, period_deg: float = 60.0) -> Tensor:
    """Earth mover's (Wasserstein-1) distance on the circle, in degrees, per sample [B].

    For distributions on n equal bins of a circle, W1 = w * min_c sum_k |D_k - c| with D the
    cumulative sum of p - q and w the bin width; the minimising c is a median of D
    (Rabin, Delon & Gousseau 2011, "Transportation distances on the circle").
    """
    w = period_deg / p.shape[-1]
    d = torch.cumsum(p - q, dim=-1)
    c = d.median(dim=-1, keepdim=True).values
    return w * (d - c).abs().sum(dim=-1)


def fold(p: Tensor) -> Tensor:
    """p(xi) + p(60 - xi) over bins 0..n/2 [B, n/2 + 1]: the part of a distribution that
    weak-signal patterns determine (pattern(60 - xi) is pattern(xi) mirrored)."""
    n = p.shape[-1]
    mirror = torch.roll(torch.flip(p, dims=[-1]), 1, dims=-1)  # bin k -> bin (n - k) % n
    both = p + mirror
    out = both[..., : n // 2 + 1].clone()
    out[..., 0] = p[..., 0]
    if n % 2 == 0:
        out[..., n // 2] = p[..., n // 2]
    return out


def coverage(mean: Tensor, std: Tensor, target: Tensor, k: float) -> Tensor:
    """Fraction of true values within mean +- k std, per parameter [P] (0.683 and 0.954 for
    k = 1, 2 when the uncertainties are calibrated)."""
    return ((target - mean).abs() <= k * std).float().mean(dim=0)


def distribution_figures(truth: Tensor, p: Tensor) -> dict[str, float]:
    """Mean KL(truth || p), circular EMD (deg) and KL of the folded distributions."""
    logp = p.clamp_min(1e-12).log()
    return {"kl": kl_divergence(truth, logp).mean().item(),
            "emd_deg": circular_emd(truth, p).mean().item(),
            "kl_folded": kl_divergence(fold(truth), fold(p).clamp_min(1e-12).log()).mean().item()}
