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

The exit (time-reversed outgoing) wave of a direction above the horizon is that solution at
alpha_f; below the horizon BornAgain 25 takes the wave that comes up from the substrate
(:func:`upward_amplitude_lists`); :func:`exit_amplitude_lists` picks per direction.
"""

from __future__ import annotations

import torch
from torch import Tensor

from deepgisas.physics.cmath import cdiv, cexp, crecip, csqrt, expi


def _per_batch(x: Tensor, extra: int) -> Tensor:
    """[B] -> [B, 1, ..., 1] with ``extra`` trailing singleton axes."""
    return x.reshape(x.shape[0], *([1] * extra))


def kz_list(chi: Tensor, k: Tensor, sin2_alpha: Tensor,
            chi_ref: Tensor | None = None) -> list[Tensor]:
    """kz in every layer, one tensor per layer.

    kz_j = k sqrt(n_j^2 - n_r^2 + n_r^2 sin^2 alpha) (= k sqrt(n_j^2 - n_r^2 cos^2 alpha), written
    without the cancellation in 1 - cos^2 alpha), with n_j^2 - n_r^2 = chi_j - chi_ref: alpha is
    the grazing angle in the reference medium r, the ambient by default (chi_ref = Re chi_0).

    Args:
        chi: [B, L] complex n_j^2 - 1 (kept small, so float32 keeps delta's digits);
            k: [B] wave number (1/nm);
        sin2_alpha: [B, *S] squared sine of the grazing angle in the reference medium;
        chi_ref: [B] real n_r^2 - 1 of the reference medium (None: Re chi_0).
    Returns:
        L tensors [B, *S] complex (principal root, Im >= 0).
    """
    extra = sin2_alpha.dim() - 1
    chi0 = chi[:, 0].real if chi_ref is None else chi_ref
    kb = _per_batch(k, extra)
    base = _per_batch(1.0 + chi0, extra) * sin2_alpha
    return [kb * csqrt(_per_batch(chi[:, j] - chi0, extra) + base) for j in range(chi.shape[1])]


def layer_kz(chi: Tensor, k: Tensor, sin2_alpha: Tensor) -> Tensor:
    """kz in every layer, stacked: [B, *S, L] complex (see :func:`kz_list`)."""
    return torch.stack(kz_list(chi, k, sin2_alpha), -1)


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


def upward_amplitude_lists(chi: Tensor, k: Tensor, sin2_alpha: Tensor, thickness: Tensor,
                           sigma: Tensor) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """kz, T, R in every layer for a wave coming up from the substrate (BornAgain 25's
    time-reversed exit wave of a direction below the horizon, whose detector it places below the
    sample): of unit amplitude going up at the top of the substrate, with grazing angle alpha
    in the substrate (reference index Re n_sub), and in the ambient only going up.

    It is :func:`amplitude_lists` of the stack turned upside down (the substrate as the
    ambient), written back in this module's convention psi_j = T_j e^{-i kz_j z'} + R_j
    e^{i kz_j z'} with z' from layer j's top: a turned layer's (T, R) at its bottom become
    (R e^{-i kz d}, T e^{i kz d}) at its top. So T_0 = 0 (nothing comes down from the ambient)
    and R_{L-1} = 1.

    Args:
        chi: [B, L] complex n^2 - 1; k: [B] (1/nm); sin2_alpha: [B, *S]; thickness: [B, L] (nm,
        first and last ignored); sigma: [B, L] rms roughness of each layer's top interface.
    Returns:
        (kz, T, R), each a list of L tensors [B, *S] complex.
    """
    n_layers = chi.shape[1]
    extra = sin2_alpha.dim() - 1
    sub = chi[:, -1]
    # n_ref^2 - 1 with n_ref = Re n_sub: Re chi + (Im n)^2, Im n = Im chi / (2 Re n)
    chi_ref = sub.real + sub.imag * sub.imag / (4.0 * (1.0 + sub.real))
    kz = kz_list(chi.flip(-1), k, sin2_alpha, chi_ref)
    sigma_up = torch.cat([torch.zeros_like(sigma[:, :1]), sigma[:, 1:].flip(-1)], -1)
    t_up, r_up = amplitude_lists(kz, thickness.flip(-1), sigma_up)
    kzs, ts, rs = [], [], []
    for j in range(n_layers):
        i = n_layers - 1 - j
        if 0 < j < n_layers - 1:
            phase = expi(kz[i] * _per_batch(thickness[:, j], extra))
            ts.append(cdiv(r_up[i], phase))
            rs.append(t_up[i] * phase)
        else:
            ts.append(r_up[i])
            rs.append(t_up[i])
        kzs.append(kz[i])
    return kzs, ts, rs


def exit_amplitude_lists(chi: Tensor, k: Tensor, sin_alpha: Tensor, thickness: Tensor,
                         sigma: Tensor) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """kz, T, R in every layer of the time-reversed exit waves of directions with exit-angle
    sines ``sin_alpha`` [B, *S]: from the ambient (:func:`amplitude_lists`) where sin_alpha >= 0
    and from the substrate (:func:`upward_amplitude_lists`) below the horizon, as BornAgain 25
    does. The second solution is computed only when some direction is below the horizon.

    Returns:
        (kz, T, R), each a list of L tensors [B, *S] complex.
    """
    s2 = sin_alpha * sin_alpha
    kz = kz_list(chi, k, s2)
    ts, rs = amplitude_lists(kz, thickness, sigma)
    below = sin_alpha < 0
    if not bool(below.any()):
        return kz, ts, rs
    up = upward_amplitude_lists(chi, k, s2, thickness, sigma)
    kz, ts, rs = ([torch.where(below, u, d) for u, d in zip(ups, downs, strict=True)]
                  for ups, downs in zip(up, (kz, ts, rs), strict=True))
    return kz, ts, rs


ROW_NODES = (-1.0, -0.5, 0.0, 0.5, 1.0)
ROW_CHECK = 1e-4  # the quadratic through t = -1, 0, 1 must reproduce t = +-1/2 this well
ROW_CHECK_FLOAT32 = 1e-3  # float32 rounding noise of the nodes is ~1e-6
EXACT_PIXELS = 16384  # up to this many pixels (B x h x W), every one is evaluated exactly


def _row_tolerance(dtype: torch.dtype) -> float:
    return ROW_CHECK if dtype == torch.float64 else ROW_CHECK_FLOAT32


Parts = tuple[Tensor, Tensor]  # (real, imaginary) of a complex quantity


def amplitude_parts_in_layer(chi: Tensor, k: Tensor, thickness: Tensor, sigma: Tensor, j: int,
                             sin_alpha: Tensor) -> tuple[Parts, Parts, Parts]:
    """(Re, Im) of kz, T, R of layer ``j`` of the exit waves (:func:`exit_amplitude_lists`: from
    the substrate below the horizon) at exit angles with sines ``sin_alpha``.

    Within a detector row sin(alpha) varies very little (for BornAgain's spherical pixels not
    at all; for a flat detector by a relative ~phi^2/2). So kz, T, R are evaluated exactly at
    five values per row spanning its range, t = -1, -1/2, 0, 1/2, 1, and interpolated by the
    quartic through them. The rows must be smooth on that scale: the quadratic through t = -1, 0, 1
    has to reproduce t = +-1/2 to ``ROW_CHECK`` (float32: ``ROW_CHECK_FLOAT32``) of the row's
    largest kz, and of its largest |T| + |R| for T and R; else every pixel is evaluated exactly,
    as are rows that cross the horizon (the wave jumps from the ambient's to the substrate's).
    So are blocks of up to ``EXACT_PIXELS`` pixels (B x h x W: the fit's pixel subsets, single
    patterns), where that is as fast or faster (film detector, float32 and float64).
    The quartic's error is smaller by about that factor to the power 2/3 (~1e-7); measured on
    the talk's sample and the test cases: 2e-13 relative L2 of the images in float64 (1e-6 in
    float32).

    Args:
        chi: [B, L] (n^2 - 1); k: [B]; thickness, sigma (rms used by the Fresnel factors): [B, L].
    Returns:
        (kz, T, R), each a pair of real [B, h, W] tensors (no complex128 construction: those
        kernels are slow on CPU).
    """
    def exact(s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        kz, ts, rs = exit_amplitude_lists(chi, k, s, thickness, sigma)
        return kz[j], ts[j], rs[j]

    lo = sin_alpha.amin(-1, keepdim=True)
    hi = sin_alpha.amax(-1, keepdim=True)
    if sin_alpha.numel() <= EXACT_PIXELS or bool(((lo < 0) & (hi >= 0)).any()):
        kz, tt, rr = exact(sin_alpha)
        return (kz.real, kz.imag), (tt.real, tt.imag), (rr.real, rr.imag)
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)  # [B, h, 1]
    dt, dev = sin_alpha.dtype, sin_alpha.device
    nodes = torch.tensor(ROW_NODES, dtype=dt, device=dev)
    at_nodes = exact(mid + half * nodes)  # each [B, h, 5]
    # errors relative to the row's largest kz, and for T, R to the largest |T| + |R| (the
    # wave T e^{-i kz z} + R e^{i kz z}; a tiny R carries float32 noise of its own)
    wave = (at_nodes[1].abs() + at_nodes[2].abs()).amax(-1)
    worst = 0.0
    for v, scale in zip(at_nodes, (at_nodes[0].abs().amax(-1), wave, wave), strict=True):
        v0, v_half_m, v_mid, v_half_p, v1 = v.unbind(-1)
        b, c = 0.5 * (v1 - v0), 0.5 * (v1 + v0) - v_mid  # quadratic v_mid + b t + c t^2
        err = (v_mid + 0.5 * b + 0.25 * c - v_half_p).abs() + (
            v_mid - 0.5 * b + 0.25 * c - v_half_m).abs()
        worst = max(worst, float((err / scale).max().detach()))
    if worst > _row_tolerance(dt):
        kz, tt, rr = exact(sin_alpha)
        return (kz.real, kz.imag), (tt.real, tt.imag), (rr.real, rr.imag)
    # power-basis coefficients of the quartic, V^-1 (values) with V_ik = t_i^k, as real rows
    # [6 (kz, T, R; re, im), 5, B, h, 1]: Horner then runs along the pixels of a row
    inv = torch.linalg.inv(nodes[:, None] ** torch.arange(5, dtype=dt, device=dev))
    vals = torch.stack([torch.view_as_real(v) for v in at_nodes], 0)  # [3, B, h, 5, 2]
    coef = torch.einsum("qbhnc,kn->qckbh", vals, inv).reshape(6, 5, *vals.shape[1:3], 1)
    t = (sin_alpha - mid) / torch.where(half > 0, half, torch.ones_like(half))  # [B, h, W]
    parts = []
    for row in coef:  # one real component at a time: [B, h, W] temporaries
        acc = row[4]
        for i in range(3, -1, -1):
            acc = torch.addcmul(row[i], acc, t)
        parts.append(acc)
    return (parts[0], parts[1]), (parts[2], parts[3]), (parts[4], parts[5])
