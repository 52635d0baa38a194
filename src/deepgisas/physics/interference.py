"""Structure factors (interference functions) as pure batched kernels.

Hexagonal lattice (ba.Crystal2D with ba.HexagonalLattice2D(a, xi) and Profile2DCauchy(w, w, 0)),
as BornAgain evaluates it: rotate q_par into the lattice frame, round to the nearest reciprocal
point in lattice coordinates (u, v) = (q.a1, q.a2)/2pi, and sum the Cauchy peak
D(g) = 2 pi w^2 (1 + |g|^2 w^2)^(-3/2) over a window of (2 na + 3) x (2 nb + 3) reciprocal points
around it, na = max(round(a 20/w / 2pi + 0.5), 4) and likewise nb; divide by the cell area. With
the lateral position variance s: S = DW S_raw + 1 - DW, DW = exp(-q_par^2 s^2).

Speed: the window sum depends on q only through the fractional lattice coordinates (fu, fv) in
[-1/2, 1/2]^2. The nearest point is summed exactly per pixel; the rest of the window, a
smooth function of (fu, fv), is tabulated once per experiment on a grid and interpolated
bicubically (``far_table``). ``hexagonal_lattice_exact`` sums every point and is the reference.

Radial paracrystal (ba.RadialParacrystal): f = exp(i q D) exp(-q^2 omega^2/2) exp(-D/lambda),
S = Re[(1 + f)/(1 - f)], density 2/(sqrt(3) D^2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as tnf
from torch import Tensor

TWO_PI = 2.0 * math.pi
SQRT3 = math.sqrt(3.0)
COS120, SIN120 = -0.5, SQRT3 / 2.0
FAR_GRID = 65
FAR_HALF = 0.6  # the table spans [-0.6, 0.6]^2 so that bicubic interpolation never hits its edge


def hex_cell_area(a: Tensor) -> Tensor:
    """Unit cell area (nm^2) of a hexagonal lattice of constant ``a`` (nm)."""
    return SQRT3 / 2.0 * a * a


def hex_window(a: Tensor, w: Tensor) -> Tensor:
    """BornAgain's half-window n (same for both axes of an isotropic decay) per experiment."""
    qa_b = a * (20.0 / w) / TWO_PI
    qb_b = a * (20.0 / w) * (-COS120 + SIN120) / TWO_PI
    n_a = torch.clamp(torch.floor(qa_b + 1.0), min=4.0)  # lround(x + 0.5) for x > 0
    n_b = torch.clamp(torch.floor(qb_b + 1.0), min=4.0)
    return torch.maximum(n_a, n_b)


def _frac_coords(qx: Tensor, qy: Tensor, a: Tensor, xi: Tensor) -> tuple[Tensor, Tensor]:
    c, s = torch.cos(xi), torch.sin(xi)
    qxr = qx * c + qy * s
    qyr = -qx * s + qy * c
    u = a * qxr / TWO_PI
    v = a * (qxr * COS120 + qyr * SIN120) / TWO_PI
    return u - torch.round(u), v - torch.round(v)


def _offsets(n: int, skip_near: bool, dtype: torch.dtype, device: torch.device) -> Tensor:
    r = torch.arange(-n - 1, n + 2, dtype=dtype, device=device)
    ii, jj = torch.meshgrid(r, r, indexing="ij")
    off = torch.stack([ii.reshape(-1), jj.reshape(-1)], -1)
    if skip_near:
        off = off[(off.abs() > 0).any(-1)]
    return off


def _window_mask(offsets: Tensor, n: Tensor) -> Tensor:
    """[B, N] 1 where an offset lies inside each experiment's window."""
    lim = (n + 1.0).unsqueeze(-1)
    return ((offsets[:, 0].abs() <= lim) & (offsets[:, 1].abs() <= lim)).to(offsets.dtype)


def far_table(a: Tensor, w: Tensor, grid: int = FAR_GRID) -> Tensor:
    """[B, 1, grid, grid] table of the window sum without the nearest point, over
    (fu, fv) in [-FAR_HALF, FAR_HALF]^2 (fu along the last axis)."""
    n = hex_window(a, w)
    offsets = _offsets(int(n.max().item()), True, a.dtype, a.device)
    t = torch.linspace(-FAR_HALF, FAR_HALF, grid, dtype=a.dtype, device=a.device)
    fv, fu = torch.meshgrid(t, t, indexing="ij")
    aa, ww = a[:, None, None], w[:, None, None]
    g = TWO_PI / aa
    uu = fu[None, :, :, None] + offsets[:, 0]
    vv = fv[None, :, :, None] + offsets[:, 1]
    gx = uu * g[..., None]
    gy = (uu + 2.0 * vv) * (g / SQRT3)[..., None]
    base = 1.0 + (gx * gx + gy * gy) * (ww * ww)[..., None]
    mask = _window_mask(offsets, n)[:, None, None, :]
    total = (torch.rsqrt(base) / base * mask).sum(-1) * TWO_PI * ww * ww
    return total.unsqueeze(1)


def _lattice_raw(qx: Tensor, qy: Tensor, a: Tensor, w: Tensor, xi: Tensor,
                 table: Tensor | None) -> Tensor:
    """The window sum over the cell area (before Debye-Waller), [B, K, H, W]."""
    if table is None:
        table = far_table(a, w)
    bsz, k = xi.shape
    aa, ww = a[:, None, None, None], w[:, None, None, None]
    fu, fv = _frac_coords(qx[:, None], qy[:, None], aa, xi[:, :, None, None])
    g = TWO_PI / aa
    gx, gy = fu * g, (fu + 2.0 * fv) * (g / SQRT3)
    base = 1.0 + (gx * gx + gy * gy) * (ww * ww)
    total = torch.rsqrt(base) / base * (TWO_PI * ww * ww)
    pts = torch.stack([fu / FAR_HALF, fv / FAR_HALF], -1)
    pts = pts.reshape(bsz, k * fu.shape[2], fu.shape[3], 2)
    far = tnf.grid_sample(table, pts, mode="bicubic", align_corners=True)
    total = total + far.reshape(fu.shape)
    return total / hex_cell_area(aa)


def _debye_waller(qx: Tensor, qy: Tensor, s: Tensor) -> Tensor:
    """exp(-q_par^2 s^2), [B, H, W]."""
    return torch.exp(-(qx * qx + qy * qy) * (s * s)[:, None, None])


def hexagonal_lattice(qx: Tensor, qy: Tensor, a: Tensor, w: Tensor, s: Tensor, xi: Tensor,
                      table: Tensor | None = None) -> Tensor:
    """Interference function S(q_par) of rotated hexagonal lattice domains.

    Args:
        qx, qy: [B, H, W] in-plane wave-vector transfer (1/nm).
        a, w, s: [B] lattice constant, Cauchy decay length, position-variance argument (nm).
        xi: [B, K] domain rotations (rad).
        table: ``far_table(a, w)``, computed once per experiment when given.
    Returns:
        [B, K, H, W] real S.
    """
    dw = _debye_waller(qx, qy, s)[:, None]
    return dw * _lattice_raw(qx, qy, a, w, xi, table) + 1.0 - dw


def hexagonal_lattice_mix(qx: Tensor, qy: Tensor, a: Tensor, w: Tensor, s: Tensor, xi: Tensor,
                          coverage: Tensor, table: Tensor | None = None) -> Tensor:
    """sum_k coverage_k (S_k - 1) over the domains, [B, H, W] (coverage: [B, K]).

    Equal to ``(coverage[..., None, None] * (hexagonal_lattice(...) - 1)).sum(1)``, with the
    Debye-Waller factor taken out of the domain sum: S_k - 1 = DW (raw_k - 1).
    """
    raw = _lattice_raw(qx, qy, a, w, xi, table)
    return _debye_waller(qx, qy, s) * (coverage[:, :, None, None] * (raw - 1.0)).sum(1)


def hexagonal_lattice_exact(qx: Tensor, qy: Tensor, a: Tensor, w: Tensor, s: Tensor,
                            xi: Tensor) -> Tensor:
    """Same as :func:`hexagonal_lattice`, summing every window point per pixel (slow)."""
    aa, ww = a[:, None, None, None], w[:, None, None, None]
    fu, fv = _frac_coords(qx[:, None], qy[:, None], aa, xi[:, :, None, None])
    n = hex_window(a, w)
    offsets = _offsets(int(n.max().item()), False, a.dtype, a.device)
    mask = _window_mask(offsets, n)[:, None, None, None, :]
    g = TWO_PI / aa
    uu = fu.unsqueeze(-1) + offsets[:, 0]
    vv = fv.unsqueeze(-1) + offsets[:, 1]
    gx, gy = uu * g[..., None], (uu + 2.0 * vv) * (g / SQRT3)[..., None]
    base = 1.0 + (gx * gx + gy * gy) * (ww * ww)[..., None]
    raw = (torch.rsqrt(base) / base * mask).sum(-1) * TWO_PI * ww * ww / hex_cell_area(aa)
    dw = torch.exp(-(qx * qx + qy * qy)[:, None] * (s * s)[:, None, None, None])
    return dw * raw + 1.0 - dw


def radial_paracrystal_phase(qp: Tensor, distance: Tensor, damping: Tensor,
                             omega: Tensor) -> Tensor:
    """f(q) = exp(i q D) exp(-q^2 omega^2 / 2) exp(-D / lambda) (lambda = 0: no damping)."""
    damp = torch.where(damping > 0, torch.exp(-distance / torch.where(damping > 0, damping,
                                                                       torch.ones_like(damping))),
                       torch.ones_like(damping))
    return torch.exp(1j * qp * distance) * torch.exp(-0.5 * (qp * omega) ** 2) * damp


def radial_paracrystal_density(distance: Tensor) -> Tensor:
    """Particle density (1/nm^2) BornAgain 25 assigns to a radial paracrystal: 2/(sqrt3 D^2)."""
    return 2.0 / (SQRT3 * distance * distance)
