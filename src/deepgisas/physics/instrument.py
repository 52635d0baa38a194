"""Instrument resolution as pure tensor functions: Gaussian spreads of the beam (divergence in
alpha_i and phi_i, a wavelength spread) as extra batch members, and the detector's Gaussian
resolution as a convolution of the image.

Both follow BornAgain 25, checked against it in tests/physics/test_bornagain_equivalence.py
(the cases ``*resolution*``, ``*divergence*``, ``*wavelength*``):

- ``ba.DistributionGaussian(mean, std, n, width)`` samples n points linearly from
  mean - width std to mean + width std (the mean alone for n = 1), weighted by the Gaussian pdf
  normalised to sum 1; ``simulation.addParameterDistribution`` sums the images of the samples
  with these weights (several distributions: every combination, weights multiplied).
- ``detector.setResolutionFunction(ba.ResolutionFunction2DGaussian(sx, sy))`` convolves the
  image (masked pixels set to 0 first, and again after) with the kernel
  K(d) = [Phi((d + 1/2) s / sigma) - Phi((d - 1/2) s / sigma)] per axis (s the bin step,
  Phi the normal CDF), d from -(n // 2) to n - 1 - n // 2 for an axis of n bins, zero outside
  the detector ("same" linear convolution), then clips negative values to 0. sx is along
  phi_f (columns), sy along alpha_f (rows); rad on a spherical detector.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# a spread's name -> (the tensor it spreads, the tensor of its std, whether the std is relative)
SPREADS = {
    "alpha_i": ("alpha_i", "alpha_i_std", False),
    "phi_i": ("phi_i", "phi_i_std", False),
    "wavelength": ("wavelength", "wavelength_std", True),
}


def gaussian_samples(mean: Tensor, std: Tensor, n: int, width: float) -> tuple[Tensor, Tensor]:
    """BornAgain's ``DistributionGaussian(mean, std, n, width).distributionSamples()``.

    mean, std: [B] (std > 0). Returns the points and their weights (summing to 1), [B, n] each.
    """
    if n == 1:
        return mean.unsqueeze(-1), torch.ones_like(mean).unsqueeze(-1)
    t = torch.linspace(-width, width, n, dtype=mean.dtype, device=mean.device)  # in stds
    x = mean.unsqueeze(-1) + t * std.unsqueeze(-1)
    pdf = torch.exp(-0.5 * t * t).expand_as(x)
    return x, pdf / pdf.sum(-1, keepdim=True)


def spread_members(spreads: tuple[tuple[str, int, float], ...], p: dict[str, Tensor]
                   ) -> tuple[dict[str, Tensor], Tensor]:
    """Every combination of the beam spreads' samples as a batch member.

    ``spreads``: (name in :data:`SPREADS`, samples, width) each; ``p`` the compiled tensors
    [B, ...]. Returns the tensors of B x S members ([B * S, ...], member b * S + s) with the
    spread parameters at their sample values (the others repeated; ``alpha_i_nominal`` and
    ``phi_i_nominal`` keep each member's nominal beam, which places a flat detector), and the
    members' weights [B, S] (summing to 1 over S)."""
    points, weights = [], []
    for name, n, width in spreads:
        key, std_key, relative = SPREADS[name]
        mean = p[key]
        std = p[std_key] * mean if relative else p[std_key]
        x, w = gaussian_samples(mean, std, n, width)
        points.append((key, x))
        weights.append(w)
    b = next(iter(p.values())).shape[0]
    sizes = [w.shape[-1] for w in weights]
    s = math.prod(sizes)
    total = torch.ones(b, 1, dtype=weights[0].dtype, device=weights[0].device)
    for w in weights:  # the outer product, the last spread fastest
        total = (total[:, :, None] * w[:, None, :]).reshape(b, -1)
    out = {k: v.repeat_interleave(s, 0) for k, v in p.items()}
    for key in ("alpha_i", "phi_i"):
        if key in out:
            out[f"{key}_nominal"] = out[key]
    for i, (key, x) in enumerate(points):
        shape = [b] + [sizes[j] if j == i else 1 for j in range(len(sizes))]
        out[key] = x.reshape(shape).expand(b, *sizes).reshape(b * s)
    return out, total


def _axis_kernel(n: int, step: Tensor, sigma: Tensor) -> Tensor:
    """[B, n, n] matrices T with (T v)_i = sum_k K(i - k) v_k: BornAgain's integrated Gaussian
    kernel of an axis of n bins (module docstring). step, sigma: [B], one unit."""
    dt, dev = step.dtype, step.device
    idx = torch.arange(n, device=dev)
    d = (idx[:, None] - idx[None, :]).to(dt)  # i - k
    inside = ((d >= -(n // 2)) & (d <= n - 1 - n // 2)).to(dt)
    scale = (step / (sigma * math.sqrt(2.0)))[:, None, None]
    cdf_hi = torch.erf((d + 0.5) * scale)
    cdf_lo = torch.erf((d - 0.5) * scale)
    return 0.5 * (cdf_hi - cdf_lo) * inside


def detector_resolution(image: Tensor, sigma: Tensor, step: Tensor) -> Tensor:
    """BornAgain 25's Gaussian detector resolution of images [B, rows, cols].

    sigma, step: [B, 2] as (along the columns, along the rows): the Gaussian's standard
    deviations and the bin steps in one unit (rad on a spherical detector, mm on a flat one).
    Differentiable in sigma. Costs two [rows, rows] and [cols, cols] products per image."""
    rows, cols = image.shape[-2:]
    t_rows = _axis_kernel(rows, step[:, 1], sigma[:, 1])
    t_cols = _axis_kernel(cols, step[:, 0], sigma[:, 0])
    out = torch.matmul(torch.matmul(t_rows, image), t_cols.transpose(-1, -2))
    return out.clamp_min(0.0)
