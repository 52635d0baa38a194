"""Rough interfaces: the rms used by the Fresnel factors and the diffuse (off-specular) scattering.

BornAgain 25, ``ba.Roughness(ba.SelfAffineFractalModel(sigma, H, xi), ba.ErfTransient())``:

- spectrum (K-correlation): PSD(f) = 4 pi H sigma^2 xi^2 (1 + (2 pi f xi)^2)^(-1-H) for
  f <= f_max = 0.5 1/nm, 0 above;
- the Névot-Croce factors and the h functions use the rms of the cut spectrum,
  sigma_rms^2 = sigma^2 [1 - (1 + (2 pi f_max xi)^2)^(-H)];
- diffuse intensity (de Boer, PRB 51, 5297 (1995), no cross-correlation):
  (k^4 / 16 pi^2) sum_i |n_i^2 - n_{i+1}^2|^2 |S_i|^2 PSD_i(|q_par| / 2 pi), with S_i the eight
  DWBA terms at interface i, weighted by h+(z) = w(z/sqrt2)/2 (layer above) and
  h-(z) = w(-z/sqrt2)/2 (layer below), w the Faddeeva function.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

F_MAX = 0.5  # 1/nm, BornAgain's default maximal spatial frequency


def sigma_rms(sigma: Tensor, hurst: Tensor, corr: Tensor) -> Tensor:
    """rms height of the spectrum cut at F_MAX (what the Fresnel factors use)."""
    return sigma * torch.sqrt(1.0 - (1.0 + (2 * math.pi * F_MAX * corr) ** 2) ** (-hurst))


def psd(f: Tensor, sigma: Tensor, hurst: Tensor, corr: Tensor) -> Tensor:
    """K-correlation power spectral density (nm^4) at spatial frequency ``f`` (1/nm)."""
    val = 4 * math.pi * hurst * sigma**2 * corr**2 * (1 + (2 * math.pi * f * corr) ** 2) ** (
        -1 - hurst)
    return torch.where(f <= F_MAX, val, torch.zeros_like(val))


@lru_cache(maxsize=4)
def _weideman(n: int) -> tuple[np.ndarray, float]:
    m = 2 * n
    k = np.arange(-m + 1, m)
    big_l = math.sqrt(n / math.sqrt(2))
    t = big_l * np.tan(k * math.pi / m / 2)
    f = np.concatenate([[0.0], np.exp(-t * t) * (big_l**2 + t * t)])
    a = np.real(np.fft.fft(np.fft.fftshift(f))) / (2 * m)
    return a[1:n + 1][::-1].copy(), big_l


def faddeeva(z: Tensor, n: int = 40) -> Tensor:
    """w(z) = exp(-z^2) erfc(-i z) for complex tensors (Weideman 1994; reflection below the
    real axis). Accurate to ~1e-12 for the arguments that occur here."""
    coef, big_l = _weideman(n)
    lower = z.imag < 0
    zz = torch.where(lower, -z, z)
    zed = (big_l + 1j * zz) / (big_l - 1j * zz)
    p = torch.zeros_like(zz)
    for c in coef:
        p = p * zed + float(c)
    w = 2 * p / (big_l - 1j * zz) ** 2 + (1 / math.sqrt(math.pi)) / (big_l - 1j * zz)
    return torch.where(lower, 2 * torch.exp(-z * z) - w, w)


def diffuse_roughness(chi: Tensor, thickness: Tensor, sig: Tensor, hurst: Tensor, corr: Tensor,
                      k: Tensor, kz_in: Tensor, t_in: Tensor, r_in: Tensor, kz_out: Tensor,
                      t_out: Tensor, r_out: Tensor, qx: Tensor, qy: Tensor) -> Tensor:
    """Diffuse scattering from all rough interfaces, per unit of (I0 dOmega / sin alpha_i).

    Args:
        chi (n^2 - 1), thickness, sig (raw sigma), hurst, corr: [B, S] slice stack;
        kz_in, t_in, r_in: [B, 1, 1, S]; kz_out, t_out, r_out: [B, H, W, S]; qx, qy: [B, H, W].
    Returns:
        [B, H, W].
    """
    def hp(z: Tensor) -> Tensor:
        return 0.5 * faddeeva(z / math.sqrt(2.0))

    def hm(z: Tensor) -> Tensor:
        return 0.5 * faddeeva(-z / math.sqrt(2.0))

    f = torch.sqrt(qx * qx + qy * qy) / (2 * math.pi)
    s_rms = sigma_rms(sig, hurst, corr)
    total = torch.zeros_like(qx)
    d = thickness[:, None, None, :]
    for i in range(chi.shape[1] - 1):
        if not bool((sig[:, i + 1] > 0).any()):
            continue
        s = s_rms[:, i + 1, None, None]
        # layer above, at its bottom interface
        ph_in = torch.exp(1j * kz_in[..., i] * d[..., i]) if i > 0 else 1.0
        ph_out = torch.exp(1j * kz_out[..., i] * d[..., i]) if i > 0 else 1.0
        ti, ri = t_in[..., i] * ph_in, r_in[..., i] / ph_in
        to, ro = t_out[..., i] * ph_out, r_out[..., i] / ph_out
        q1, q2 = -kz_in[..., i] - kz_out[..., i], -kz_in[..., i] + kz_out[..., i]
        amp = (ti * to * hp(q1 * s) + ti * ro * hp(q2 * s) + ri * to * hp(-q2 * s)
               + ri * ro * hp(-q1 * s))
        j = i + 1
        ti, ri, to, ro = t_in[..., j], r_in[..., j], t_out[..., j], r_out[..., j]
        q1, q2 = -kz_in[..., j] - kz_out[..., j], -kz_in[..., j] + kz_out[..., j]
        amp = amp + (ti * to * hm(q1 * s) + ti * ro * hm(q2 * s) + ri * to * hm(-q2 * s)
                     + ri * ro * hm(-q1 * s))
        contrast = (chi[:, i] - chi[:, j]).abs() ** 2
        spec = psd(f, sig[:, j, None, None], hurst[:, j, None, None], corr[:, j, None, None])
        total = total + contrast[:, None, None] * amp.abs() ** 2 * spec
    return (k**4 / (16 * math.pi**2))[:, None, None] * total
