"""Detector geometry: the direction and the weight (solid angle) of every pixel.

Kernels here take tensors only. Angles in rad, lengths in mm (detector) and nm (physics).

BornAgain 25's ``SphericalDetector(n_phi, phi_min, phi_max, n_alpha, alpha_min, alpha_max)``
does not place its pixels at those angles: we measured (docs/physics.md) that it takes the
axis values as coordinates t_phi, t_alpha on a plane and maps a pixel's edges to azimuth and
elevation edges

    phi_f = atan(t_phi),   alpha_f = atan(t_alpha / sqrt(1 + t_c^4))

(t_c the centre of the pixel's t_phi bin, the same for the whole column; sqrt(1 + t_c^2)
would be the flat plane's horizontal distance). A pixel's direction is the one at the
midpoints of its azimuth and elevation edges, and its weight is its solid angle
(phi_hi - phi_lo)(sin alpha_hi - sin alpha_lo). We do the same: single pixels agree to 1e-11
relative up to 45 deg from the beam. (Up to 2026-12 u ~ (1, t_c, t_alpha,c sqrt(1 + t_c^2))
with a fitted weight: 4e-7 relative L2 on the 64 x 64, +-1.5 deg grid, but single pixels up
to 1.7e-4 off, and percents beyond 10 deg.) A flat-detector pixel is weighted by its own solid
angle.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class PixelGrid:
    """Directions and weights of all pixels: ``ux, uy, uz`` unit vector of k_f, ``weight`` the
    effective solid angle (sr); all broadcastable to [B, rows, cols]."""

    ux: Tensor
    uy: Tensor
    uz: Tensor
    weight: Tensor


def _edges(span: Tensor, n: int) -> Tensor:
    """[B, 2] outer edges -> [B, n + 1] equidistant bin edges."""
    t = torch.arange(n + 1, dtype=span.dtype, device=span.device) / n
    return span[:, :1] + t * (span[:, 1:] - span[:, :1])


def spherical_grid(phi_edges: Tensor, alpha_edges: Tensor, n_alpha: int, n_phi: int) -> PixelGrid:
    """Pixels of a spherical detector (BornAgain 25's, see the module docstring).

    Args:
        phi_edges: [B, 2] outer bin edges (rad); alpha_edges: [B, 2] outer bin edges (rad).
    Returns:
        a PixelGrid of [B, n_alpha, n_phi] tensors (row 0 = lowest alpha_f). When every row of
        the batch has the same edges (one detector, the common case), its pixels are computed
        once and shared (expanded) by all rows.
    """
    b = len(phi_edges)
    same = (phi_edges == phi_edges[:1]).all() & (alpha_edges == alpha_edges[:1]).all()
    if b > 1 and bool(same):
        g = spherical_grid(phi_edges[:1], alpha_edges[:1], n_alpha, n_phi)
        return PixelGrid(*(t.expand(b, -1, -1) for t in (g.ux, g.uy, g.uz, g.weight)))
    t_phi = _edges(phi_edges, n_phi)  # [B, n_phi + 1]
    t_c = 0.5 * (t_phi[:, 1:] + t_phi[:, :-1])
    az = torch.atan(t_phi)
    az_c = (0.5 * (az[:, 1:] + az[:, :-1]))[:, None, :]  # [B, 1, n_phi]
    # tangents x of the elevation edges and their secants r; the centre's tangent is
    # tan((A + B) / 2) = (sin A + sin B) / (cos A + cos B) = (x_A r_B + x_B r_A) / (r_A + r_B)
    ru = torch.sqrt(1.0 + (t_c * t_c) ** 2)[:, None, :]  # [B, 1, n_phi]
    x = _edges(alpha_edges, n_alpha)[:, :, None] / ru  # [B, n_alpha + 1, n_phi]
    r = torch.sqrt(1.0 + x * x)
    x_a, x_b, r_a, r_b = x[:, :-1], x[:, 1:], r[:, :-1], r[:, 1:]
    tan_c = torch.addcmul(x_a * r_b, x_b, r_a) / (r_a + r_b)
    cos_c = torch.rsqrt(1.0 + tan_c * tan_c)
    sin_e = x / r
    omega = (az[:, 1:] - az[:, :-1])[:, None, :] * (sin_e[:, 1:] - sin_e[:, :-1]).abs()
    return PixelGrid(cos_c * torch.cos(az_c), cos_c * torch.sin(az_c), tan_c * cos_c, omega)


def rectangular_grid(
    n_rows: int, n_cols: int, pixel_mm: Tensor, distance_mm: Tensor, center_px: Tensor,
    alpha_i: Tensor, phi_i: Tensor | None = None,
) -> PixelGrid:
    """Pixels of a flat detector perpendicular to the direct beam.

    The direct beam (direction (cos ai, 0, -sin ai)) hits the detector at ``center_px`` =
    [B, 2] (column, row) in pixel coordinates, where pixel (row i, col j) spans [j, j+1) x
    [i, i+1) and rows count from the bottom. Columns grow with phi_f.

    With an azimuthal incidence ``phi_i`` [B] (rad) the detector turns with the beam, about
    the sample normal.

    Args:
        pixel_mm, distance_mm, alpha_i: [B]. Returns [B, n_rows, n_cols] tensors.
    """
    dt, dev = pixel_mm.dtype, pixel_mm.device
    cols = torch.arange(n_cols, dtype=dt, device=dev) + 0.5
    rows = torch.arange(n_rows, dtype=dt, device=dev) + 0.5
    p = pixel_mm[:, None, None]
    y = (cols[None, None, :] - center_px[:, 0, None, None]) * p  # horizontal, towards +phi
    z = (rows[None, :, None] - center_px[:, 1, None, None]) * p  # vertical, up
    dist = distance_mm[:, None, None]
    ca, sa = torch.cos(alpha_i)[:, None, None], torch.sin(alpha_i)[:, None, None]
    # detector frame: x along the direct beam; rotate by alpha_i about y into the sample frame
    vx = (dist * ca + z * sa).expand(-1, n_rows, n_cols)
    vz = (-dist * sa + z * ca).expand(-1, n_rows, n_cols)
    vy = y.expand(-1, n_rows, n_cols)
    if phi_i is not None:  # the direct beam at (cos ai cos phi_i, cos ai sin phi_i, -sin ai)
        cp, sp = torch.cos(phi_i)[:, None, None], torch.sin(phi_i)[:, None, None]
        vx, vy = vx * cp - vy * sp, vx * sp + vy * cp
    r = torch.sqrt(vx * vx + vy * vy + vz * vz)
    ux, uy, uz = vx / r, vy / r, vz / r
    omega = p * p * dist / r**3  # flat pixel solid angle, centre approximation
    return PixelGrid(ux, uy, uz, omega)


ROW_SPREAD = 1e-7  # rows whose u_z span less interpolate their exit waves along the row


def row_exit_sines(uz: Tensor) -> tuple[Tensor, Tensor | None]:
    """Where the exit waves of pixels with exit-angle sines ``uz`` [B, rows, cols] are computed.

    A spherical detector's rows have nearly one exit angle: BornAgain 25's elevations vary
    along a row by a relative ~t_c^4 / 2 (the module docstring), 2.6e-7 at 1.5 deg from the
    centre, yet exit waves at the rows' mean angle would be up to 1e-5 off. When every row's
    u_z spans at most ``ROW_SPREAD``, the exit waves are computed at the two ends of each row
    and interpolated linearly: their phases k u_z z are then off by ~(ROW_SPREAD k z)^2 / 8,
    < 1e-10 up to k z = 1e4 (z = 200 nm at 0.134 nm); the +-2 deg film detector spans 3e-8.
    The result is ([B, rows, 2] the ends, [B, rows, cols] the pixels' weights between them), or
    ([B, rows, 1], None) when the rows are exactly constant. Else (wide spherical detectors, or
    flat ones, whose rows span ~u_z phi_f^2 / 2) (uz, None): exit waves per pixel."""
    lo = uz.amin(-1, keepdim=True)
    hi = uz.amax(-1, keepdim=True)
    span = hi - lo
    if bool((span == 0).all()):
        return lo, None
    if bool((span <= ROW_SPREAD).all()) and bool((lo * hi >= 0).all()):
        safe = torch.where(span > 0, span, torch.ones_like(span))
        return torch.cat([lo, hi], -1), (uz - lo) / safe
    return uz, None


def apply_masks(image: Tensor, roi: tuple[int, int, int, int] | None,
                masks: tuple[tuple[int, int, int, int], ...]) -> Tensor:
    """Zero the pixels outside ``roi`` and inside ``masks`` ([col0, row0, col1, row1], half-open,
    rows from the bottom) of [B, rows, cols] images."""
    if roi is None and not masks:
        return image
    keep = torch.ones(image.shape[-2:], dtype=torch.bool, device=image.device)
    if roi is not None:
        c0, r0, c1, r1 = roi
        inside = torch.zeros_like(keep)
        inside[r0:r1, c0:c1] = True
        keep &= inside
    for c0, r0, c1, r1 in masks:
        keep[r0:r1, c0:c1] = False
    return image * keep
