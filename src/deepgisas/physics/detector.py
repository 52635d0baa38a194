"""Detector geometry: the direction and the weight (solid angle) of every pixel.

Kernels here take tensors only. Angles in rad, lengths in mm (detector) and nm (physics).

BornAgain 25's ``SphericalDetector`` evaluates a pixel at its bin centre (phi_c, alpha_c), and we
measured (tests/physics/test_bornagain_equivalence.py, docs/physics.md) that v25 takes the bin
coordinates as the tangents of the azimuth and of the elevation: the scattering direction is
u ~ (1, phi_c, alpha_c sqrt(1 + phi_c^2)) / norm (so u_z, the sine of the exit angle, depends on
the row alone), and the pixel is weighted by dOmega * cos^2(alpha_c) cos^2(phi_c), with
dOmega = dphi (sin alpha_hi - sin alpha_lo). We do the same, so that images agree pixel for
pixel (the film's 128 x 128 detector, +-2 deg: relative L2 3e-7, every pixel within 1e-5; with
u ~ (1, phi_c, alpha_c) / norm, as before 2026-11-26, 1e-4 and up to 6e-3 near fringes at the
sides). A flat detector pixel is given the value of a spherical pixel with the same solid
angle centred on the same direction.
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


def _ba_direction(phi_c: Tensor, alpha_c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """u ~ (1, phi_c, alpha_c sqrt(1 + phi_c^2)): phi_c and alpha_c are the tangents of the
    azimuth and of the elevation, so u_z = alpha_c / sqrt(1 + alpha_c^2) keeps alpha_c's shape
    (one value per row: the simulator computes the exit wave per row)."""
    norm = torch.sqrt(1.0 + phi_c * phi_c) * torch.sqrt(1.0 + alpha_c * alpha_c)
    return 1.0 / norm, phi_c / norm, alpha_c / torch.sqrt(1.0 + alpha_c * alpha_c)


def _ba_gain(phi_c: Tensor, alpha_c: Tensor) -> Tensor:
    return torch.cos(alpha_c) ** 2 * torch.cos(phi_c) ** 2


def spherical_grid(phi_edges: Tensor, alpha_edges: Tensor, n_alpha: int, n_phi: int) -> PixelGrid:
    """Pixels of a spherical detector (BornAgain 25's, see the module docstring).

    Args:
        phi_edges: [B, 2] outer bin edges (rad); alpha_edges: [B, 2] outer bin edges (rad).
    Returns:
        a PixelGrid of [B, n_alpha, n_phi] tensors (row 0 = lowest alpha_f).
    """
    dt, dev = phi_edges.dtype, phi_edges.device
    t_phi = (torch.arange(n_phi, dtype=dt, device=dev) + 0.5) / n_phi
    t_al = (torch.arange(n_alpha, dtype=dt, device=dev) + 0.5) / n_alpha
    dphi = (phi_edges[:, 1] - phi_edges[:, 0]) / n_phi
    dal = (alpha_edges[:, 1] - alpha_edges[:, 0]) / n_alpha
    phi_c = (phi_edges[:, :1] + t_phi * (phi_edges[:, 1:] - phi_edges[:, :1]))[:, None, :]
    al_c = (alpha_edges[:, :1] + t_al * (alpha_edges[:, 1:] - alpha_edges[:, :1]))[:, :, None]
    d2 = dal[:, None, None] / 2
    omega = dphi[:, None, None] * (torch.sin(al_c + d2) - torch.sin(al_c - d2)).abs()
    ux, uy, uz = _ba_direction(phi_c, al_c)
    return PixelGrid(ux, uy, uz, omega * _ba_gain(phi_c, al_c))


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
    return PixelGrid(ux, uy, uz, omega * _ba_gain(uy / ux, uz / torch.sqrt(ux * ux + uy * uy)))


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
