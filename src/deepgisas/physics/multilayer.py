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


def layer_kz(n2: Tensor, k: Tensor, cos2_alpha: Tensor) -> Tensor:
    """kz in every layer.

    Args:
        n2: [B, L] complex squared refractive indices; k: [B] wave number (1/nm);
        cos2_alpha: [B, *S] squared cosine of the grazing angle in the ambient.
    Returns:
        [B, *S, L] complex kz (principal root, Im >= 0).
    """
    extra = cos2_alpha.dim() - 1
    n2b = n2.reshape(n2.shape[0], *([1] * extra), n2.shape[1])
    kb = k.reshape(-1, *([1] * (extra + 1)))
    n0sq = n2b[..., :1].real
    return kb * torch.sqrt(n2b - n0sq * cos2_alpha.unsqueeze(-1))


def amplitudes(kz: Tensor, thickness: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
    """T and R at the top of every layer, for a wave coming down from the ambient.

    Args:
        kz: [B, *S, L] complex; thickness: [B, L] (nm, first and last ignored);
        sigma: [B, L] rms roughness of each layer's top interface (nm, first ignored).
    Returns:
        (T, R), each [B, *S, L] complex.
    """
    n_layers = kz.shape[-1]
    extra = kz.dim() - 2
    d = thickness.reshape(thickness.shape[0], *([1] * extra), n_layers)
    s2 = (sigma * sigma).reshape(d.shape)
    zero = torch.zeros_like(kz[..., 0])
    r_next = zero
    s_list: list[Tensor] = [zero] * n_layers
    r_list: list[Tensor] = [zero] * n_layers
    for i in range(n_layers - 2, -1, -1):
        k0, k1 = kz[..., i], kz[..., i + 1]
        ratio = k1 / k0
        mp = 0.5 * (1.0 + ratio)
        mm = 0.5 * (1.0 - ratio)
        if bool((sigma[:, i + 1] > 0).any()):
            mp = mp * torch.exp(-((k1 - k0) ** 2) * s2[..., i + 1] / 2)
            mm = mm * torch.exp(-((k1 + k0) ** 2) * s2[..., i + 1] / 2)
        delta = torch.exp(1j * k0 * d[..., i]) if i > 0 else torch.ones_like(k0)
        s_i = delta / (mp + mm * r_next)
        r_i = delta * (mm + mp * r_next) * s_i
        s_list[i], r_list[i] = s_i, r_i
        r_next = r_i
    t_cur = torch.ones_like(kz[..., 0])
    ts, rs = [], []
    for j in range(n_layers):
        ts.append(t_cur)
        rs.append(r_list[j] * t_cur)
        if j < n_layers - 1:
            t_cur = t_cur * s_list[j]
    return torch.stack(ts, -1), torch.stack(rs, -1)
