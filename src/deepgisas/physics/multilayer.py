"""Scalar multilayer optics: kz, and the down/up-going amplitudes T, R in every layer.

BornAgain's recursion (``SpecularScalarStrategy``, Névot-Croce factors for ``ErfTransient``):
layers j = 0 (ambient) ... L-1 (substrate), thickness d_j (d_0 = 0), kz_j = k sqrt(n_j^2 -
n_0^2 cos^2 alpha). From the substrate (T = 1, R = 0) upwards:

    mp = (1 + kz_{i+1}/kz_i)/2 exp(-(kz_{i+1} - kz_i)^2 s^2/2)
    mm = (1 - kz_{i+1}/kz_i)/2 exp(-(kz_{i+1} + kz_i)^2 s^2/2)
    S_i = e^{i kz_i d_i} / (mp + mm r_{i+1}),   r_i = e^{i kz_i d_i} (mm + mp r_{i+1}) S_i

then T_0 = 1, T_j = prod_{i<j} S_i, R_j = r_j T_j. T_j, R_j are the amplitudes at the top of
layer j (for the ambient: at z = 0): psi_j(z) = T_j e^{-i kz_j z'} + R_j e^{+i kz_j z'}.
s is the rms roughness of the top interface of layer i+1.
"""

from __future__ import annotations

import torch
from torch import Tensor

from deepgisas.physics.cmath import cdiv, cexp, crecip, csqrt, expi


def _per_batch(x: Tensor, extra: int) -> Tensor:
    """[B] -> [B, 1, ..., 1] with ``extra`` trailing singleton axes."""
    return x.reshape(x.shape[0], *([1] * extra))


def kz_list(n2: Tensor, k: Tensor, sin2_alpha: Tensor) -> list[Tensor]:
    """kz in every layer, one tensor per layer.

    kz_j = k sqrt(n_j^2 - n_0^2 + n_0^2 sin^2 alpha) (= k sqrt(n_j^2 - n_0^2 cos^2 alpha), written
    without the cancellation in 1 - cos^2 alpha).

    Args:
        n2: [B, L] complex squared refractive indices; k: [B] wave number (1/nm);
        sin2_alpha: [B, *S] squared sine of the grazing angle in the ambient.
    Returns:
        L tensors [B, *S] complex (principal root, Im >= 0).
    """
    extra = sin2_alpha.dim() - 1
    n0sq = n2[:, 0].real
    kb = _per_batch(k, extra)
    base = _per_batch(n0sq, extra) * sin2_alpha
    return [kb * csqrt(_per_batch(n2[:, j] - n0sq, extra) + base) for j in range(n2.shape[1])]


def layer_kz(n2: Tensor, k: Tensor, sin2_alpha: Tensor) -> Tensor:
    """kz in every layer, stacked: [B, *S, L] complex (see :func:`kz_list`)."""
    return torch.stack(kz_list(n2, k, sin2_alpha), -1)


def amplitude_lists(kz: list[Tensor], thickness: Tensor,
                    sigma: Tensor) -> tuple[list[Tensor], list[Tensor]]:
    """T and R at the top of every layer, for a wave coming down from the ambient.

    Args:
        kz: L tensors [B, *S] complex (from :func:`kz_list`); thickness: [B, L] (nm, first and
        last ignored); sigma: [B, L] rms roughness of each layer's top interface (nm, first
        ignored).
    Returns:
        (T, R), each a list of L tensors [B, *S] complex.
    """
    n_layers = len(kz)
    extra = kz[0].dim() - 1
    zero = torch.zeros_like(kz[0])
    r_next = zero
    s_list: list[Tensor] = [zero] * n_layers
    r_list: list[Tensor] = [zero] * n_layers
    for i in range(n_layers - 2, -1, -1):
        k0, k1 = kz[i], kz[i + 1]
        ratio = cdiv(k1, k0)
        mp = 0.5 * (1.0 + ratio)
        mm = 0.5 * (1.0 - ratio)
        if bool((sigma[:, i + 1] > 0).any()):
            s2 = _per_batch(sigma[:, i + 1] * sigma[:, i + 1], extra)
            mp = mp * cexp(-((k1 - k0) ** 2) * s2 / 2)
            mm = mm * cexp(-((k1 + k0) ** 2) * s2 / 2)
        if i > 0:
            delta = expi(k0 * _per_batch(thickness[:, i], extra))
            s_i = cdiv(delta, mp + mm * r_next)
            r_i = delta * (mm + mp * r_next) * s_i
        else:
            s_i = crecip(mp + mm * r_next)
            r_i = (mm + mp * r_next) * s_i
        s_list[i], r_list[i] = s_i, r_i
        r_next = r_i
    t_cur = torch.ones_like(kz[0])
    ts, rs = [], []
    for j in range(n_layers):
        ts.append(t_cur)
        rs.append(r_list[j] * t_cur)
        if j < n_layers - 1:
            t_cur = t_cur * s_list[j]
    return ts, rs


def amplitudes(kz: Tensor, thickness: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
    """T and R at the top of every layer, stacked.

    Args:
        kz: [B, *S, L] complex; thickness: [B, L] (nm, first and last ignored);
        sigma: [B, L] rms roughness of each layer's top interface (nm, first ignored).
    Returns:
        (T, R), each [B, *S, L] complex.
    """
    ts, rs = amplitude_lists(list(kz.unbind(-1)), thickness, sigma)
    return torch.stack(ts, -1), torch.stack(rs, -1)
