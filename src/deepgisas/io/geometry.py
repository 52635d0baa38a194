"""Detector geometry at the edge: the angles and q of every pixel, exactly as the simulator
uses them, and the way back from a direction to a pixel.

Angles come from the simulator's own pixel directions (:mod:`deepgisas.physics.detector`):
alpha_f = asin(u_z), phi_f = atan2(u_y, u_x), with u the unit vector of k_f. For a flat
detector, pixel (row i, column j) spans [j, j+1) x [i, i+1) in pixel coordinates, rows from
the bottom, and the direct beam (coming down at alpha_i) hits ``beam_center_px`` = (column,
row); the detector is perpendicular to the direct beam. A spherical detector's pixels are
BornAgain 25's (:mod:`deepgisas.physics.detector`): column j spans the azimuths atan(t) between
its edges t in the axis' coordinates, the row edges are the elevations atan(t / sqrt(1 + t_j^4))
(t_j the column's centre), and a position (column, row) inside a pixel is linear in azimuth and
elevation between the pixel's edges (BornAgain's pixel coordinates).

q = k_f - k_i with k_i = k (cos ai, 0, -sin ai), k = 2 pi / lambda: q_y = k u_y,
q_z = k (u_z + sin ai), in 1/nm. Functions here take radians and nm unless their names say deg.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from deepgisas.errors import UserError
from deepgisas.physics.detector import PixelGrid, rectangular_grid, spherical_grid
from deepgisas.sample import Beam, Rectangular, Spherical
from deepgisas.units import DEG, wavenumber

Geometry = Spherical | Rectangular


def _number(value: object, what: str) -> float:
    if not isinstance(value, int | float):
        raise UserError(f"{what} must be a number here, not a prior ({value!r})")
    return float(value)


def beam_angles(beam: Beam) -> tuple[float, float]:
    """(alpha_i in rad, wavelength in nm) of a concrete beam."""
    return _number(beam.alpha_i_deg, "beam.alpha_i_deg") * DEG, \
        _number(beam.wavelength_nm, "beam.wavelength_nm")


def pixel_grid(geometry: Geometry, alpha_i: float) -> PixelGrid:
    """The simulator's PixelGrid (batch of one, float64) for a detector geometry."""
    t = torch.tensor
    if isinstance(geometry, Spherical):
        n_alpha, n_phi = geometry.shape
        return spherical_grid(t([geometry.phi_deg], dtype=torch.float64) * DEG,
                              t([geometry.alpha_deg], dtype=torch.float64) * DEG,
                              n_alpha, n_phi)
    rows, cols = geometry.shape
    return rectangular_grid(rows, cols, t([geometry.pixel_size_mm], dtype=torch.float64),
                            t([geometry.distance_mm], dtype=torch.float64),
                            t([geometry.beam_center_px], dtype=torch.float64),
                            t([alpha_i], dtype=torch.float64))


@dataclass(frozen=True)
class PixelAngles:
    """Per pixel, float64 [rows, cols]: ``alpha_f``, ``phi_f`` (rad), ``q_x``, ``q_y``, ``q_z``
    (1/nm), ``weight`` (the simulator's effective solid angle, sr)."""

    alpha_f: np.ndarray
    phi_f: np.ndarray
    q_x: np.ndarray
    q_y: np.ndarray
    q_z: np.ndarray
    weight: np.ndarray


def pixel_angles(geometry: Geometry, alpha_i: float, wavelength_nm: float) -> PixelAngles:
    """Angles, q and solid angles of every pixel of ``geometry`` (alpha_i in rad)."""
    g = pixel_grid(geometry, alpha_i)
    shape = geometry.shape
    ux, uy, uz, w = (np.broadcast_to(a[0].numpy(), shape).astype(np.float64)
                     for a in (g.ux, g.uy, g.uz, g.weight))
    k = wavenumber(wavelength_nm)
    return PixelAngles(np.arcsin(np.clip(uz, -1, 1)), np.arctan2(uy, ux),
                       k * (ux - math.cos(alpha_i)), k * uy, k * (uz + math.sin(alpha_i)), w)


def angles_to_direction(alpha_f: np.ndarray, phi_f: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vector of k_f (sample frame) for angles in rad."""
    ca = np.cos(alpha_f)
    return ca * np.cos(phi_f), ca * np.sin(phi_f), np.sin(alpha_f)


def _ru(p0: float, p1: float, n: int, j: np.ndarray) -> np.ndarray:
    """sqrt(1 + t_j^4) of the columns j of a spherical detector (t_j the column's centre)."""
    t = p0 + (j + 0.5) / n * (p1 - p0)
    return np.sqrt(1.0 + t**4)


def _edge_angle(lo: float, hi: float, n: int, k: np.ndarray, ru: np.ndarray | float,
                frac: np.ndarray) -> np.ndarray:
    """The angle at fraction ``frac`` of bin k of an axis from lo to hi in n bins, whose edges
    are the angles atan(t / ru) of its coordinates t."""
    t0, t1 = lo + k / n * (hi - lo), lo + (k + 1) / n * (hi - lo)
    e0, e1 = np.arctan(t0 / ru), np.arctan(t1 / ru)
    return e0 + frac * (e1 - e0)


def _inverse_edges(angle: np.ndarray, tangent: np.ndarray, lo: float, hi: float, n: int,
                   ru: np.ndarray | float) -> np.ndarray:
    """The bin coordinate (bin k plus the fraction) of ``angle`` on the axis of
    :func:`_edge_angle` (outside the axis: the first or last bin's line continued)."""
    with np.errstate(invalid="ignore"):
        k = np.clip(np.floor((tangent * ru - lo) / (hi - lo) * n), 0, n - 1)
    k = np.nan_to_num(k)
    e0 = _edge_angle(lo, hi, n, k, ru, np.zeros_like(angle))
    e1 = _edge_angle(lo, hi, n, k, ru, np.ones_like(angle))
    return k + (angle - e0) / (e1 - e0)


def direction_to_pixel(ux: np.ndarray, uy: np.ndarray, uz: np.ndarray, geometry: Geometry,
                       alpha_i: float) -> tuple[np.ndarray, np.ndarray]:
    """(column, row) in pixel coordinates (pixel j's centre is j + 0.5, rows from the bottom)
    where direction u hits ``geometry``; NaN where it never does (behind the detector)."""
    ux, uy, uz = (np.asarray(a, dtype=np.float64) for a in (ux, uy, uz))
    if isinstance(geometry, Spherical):
        with np.errstate(divide="ignore", invalid="ignore"):
            az = np.where(ux > 0, np.arctan2(uy, ux), np.nan)
            el = np.where(ux > 0, np.arctan2(uz, np.hypot(ux, uy)), np.nan)
        (p0, p1), (a0, a1) = np.radians(geometry.phi_deg), np.radians(geometry.alpha_deg)
        n_alpha, n_phi = geometry.shape
        col = _inverse_edges(az, np.tan(az), p0, p1, n_phi, 1.0)
        j = np.clip(np.floor(np.nan_to_num(col)), 0, n_phi - 1)
        return col, _inverse_edges(el, np.tan(el), a0, a1, n_alpha, _ru(p0, p1, n_phi, j))
    ca, sa = math.cos(alpha_i), math.sin(alpha_i)
    wx, wz = ca * ux - sa * uz, sa * ux + ca * uz  # into the detector frame (x = direct beam)
    d, p = geometry.distance_mm, geometry.pixel_size_mm
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(wx > 0, d * uy / wx, np.nan)
        z = np.where(wx > 0, d * wz / wx, np.nan)
    cx, cz = geometry.beam_center_px
    return cx + y / p, cz + z / p


def angles_to_pixel(alpha_f: np.ndarray, phi_f: np.ndarray, geometry: Geometry,
                    alpha_i: float) -> tuple[np.ndarray, np.ndarray]:
    """(column, row) pixel coordinates of the directions (alpha_f, phi_f) in rad."""
    return direction_to_pixel(*angles_to_direction(np.asarray(alpha_f), np.asarray(phi_f)),
                              geometry, alpha_i)


def pixel_to_angles(col: np.ndarray, row: np.ndarray, geometry: Geometry, alpha_i: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(alpha_f, phi_f) in rad at pixel coordinates (column, row), the inverse of
    :func:`angles_to_pixel`; at pixel centres it equals :func:`pixel_angles`."""
    col, row = np.asarray(col, dtype=np.float64), np.asarray(row, dtype=np.float64)
    if isinstance(geometry, Spherical):
        (p0, p1), (a0, a1) = np.radians(geometry.phi_deg), np.radians(geometry.alpha_deg)
        n_alpha, n_phi = geometry.shape
        j = np.clip(np.floor(col), 0, n_phi - 1)
        i = np.clip(np.floor(row), 0, n_alpha - 1)
        az = _edge_angle(p0, p1, n_phi, j, 1.0, col - j)
        el = _edge_angle(a0, a1, n_alpha, i, _ru(p0, p1, n_phi, j), row - i)
        return el, az
    else:
        cx, cz = geometry.beam_center_px
        p, d = geometry.pixel_size_mm, geometry.distance_mm
        y, z = (col - cx) * p, (row - cz) * p
        ca, sa = math.cos(alpha_i), math.sin(alpha_i)
        ux, uy, uz = d * ca + z * sa, y, -d * sa + z * ca
    r = np.sqrt(ux * ux + uy * uy + uz * uz)
    return np.arcsin(uz / r), np.arctan2(uy, ux * np.ones_like(r))


def q_at(alpha_f: np.ndarray, phi_f: np.ndarray, alpha_i: float, wavelength_nm: float
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(q_x, q_y, q_z) in 1/nm for angles in rad."""
    ux, uy, uz = angles_to_direction(np.asarray(alpha_f), np.asarray(phi_f))
    k = wavenumber(wavelength_nm)
    return k * (ux - math.cos(alpha_i)), k * uy, k * (uz + math.sin(alpha_i))


def direct_beam_px(geometry: Geometry, alpha_i: float) -> tuple[float, float]:
    """(column, row) where the direct beam (alpha_f = -alpha_i, phi_f = 0) hits."""
    c, r = angles_to_pixel(np.array(-alpha_i), np.array(0.0), geometry, alpha_i)
    return float(c), float(r)


def specular_px(geometry: Geometry, alpha_i: float) -> tuple[float, float]:
    """(column, row) of the specular peak: alpha_f = alpha_i, phi_f = 0."""
    c, r = angles_to_pixel(np.array(alpha_i), np.array(0.0), geometry, alpha_i)
    return float(c), float(r)


def critical_angle(delta: float) -> float:
    """The substrate's critical angle sqrt(2 delta) in rad: the Yoneda band's alpha_f."""
    if delta <= 0:
        raise UserError(f"the critical angle needs delta > 0, got {delta:g}")
    return math.sqrt(2.0 * delta)


def yoneda_px(geometry: Geometry, alpha_i: float, delta: float) -> tuple[float, float]:
    """(column, row) of the Yoneda band at phi_f = 0 (alpha_f = sqrt(2 delta))."""
    c, r = angles_to_pixel(np.array(critical_angle(delta)), np.array(0.0), geometry, alpha_i)
    return float(c), float(r)


def beam_spots(geometry: Geometry, alpha_i: float, radius: float,
               grid_alpha_i: float | None = None) -> np.ndarray:
    """bool [rows, cols]: the pixels of ``geometry`` (a flat one placed by ``grid_alpha_i``,
    default ``alpha_i``; rad) whose centre lies within ``radius`` (rad) of the specular beam
    (alpha_f = alpha_i, phi_f = 0) or of the direct beam (alpha_f = -alpha_i, phi_f = 0).
    The region is an ellipse in (alpha_f, phi_f) whose semi-axes are at least one pixel pitch,
    so that it covers the pixels a bilinear resampling spreads a point-like spot over."""
    g = pixel_grid(geometry, alpha_i if grid_alpha_i is None else grid_alpha_i)
    shape = geometry.shape
    ux, uy, uz = (np.broadcast_to(a[0].numpy(), shape).astype(np.float64)
                  for a in (g.ux, g.uy, g.uz))
    alpha_f, phi_f = np.arcsin(np.clip(uz, -1, 1)), np.arctan2(uy, ux)
    pitch_a = float(np.median(np.abs(np.diff(alpha_f, axis=0)))) if shape[0] > 1 else 0.0
    pitch_p = float(np.median(np.abs(np.diff(phi_f, axis=1)))) if shape[1] > 1 else 0.0
    ra, rp = max(radius, pitch_a), max(radius, pitch_p)
    out = np.zeros(shape, dtype=bool)
    for centre in (alpha_i, -alpha_i):
        out |= ((alpha_f - centre) / ra) ** 2 + (phi_f / rp) ** 2 <= 1.0
    return out
