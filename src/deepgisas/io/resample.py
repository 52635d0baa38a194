"""Measured image -> a model's detector grid, in angle space, masks carried along.

Each target pixel looks up its direction (the simulator's, :mod:`deepgisas.io.geometry`) on
the source detector and takes the bilinear interpolation of the four source pixels around
that point. Intensities are converted per solid angle on the way (divided by the source
pixel's weight, multiplied by the target's), so a flat detector's counts become what the
simulator would put in the target pixel up to one overall factor. A target pixel is masked
(NaN) if any source pixel it needs is masked, or if it falls outside the source detector;
the fraction of target pixels outside is returned and warned about.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from deepgisas.io.geometry import Geometry, direction_to_pixel, pixel_grid


class OutsideWarning(UserWarning):
    """Part of the model's detector grid lies outside the measured detector."""


@dataclass(frozen=True)
class Resampled:
    """``data``: float64 [rows, cols] on the target grid, NaN where masked; ``mask``: bool,
    True where masked; ``outside``: fraction of target pixels outside the source detector."""

    data: np.ndarray
    mask: np.ndarray
    outside: float


def _directions(geometry: Geometry, alpha_i: float) -> tuple[np.ndarray, ...]:
    g = pixel_grid(geometry, alpha_i)
    return tuple(np.broadcast_to(a[0].numpy(), geometry.shape).astype(np.float64)
                 for a in (g.ux, g.uy, g.uz, g.weight))


def resample(image: np.ndarray, source: Geometry, target: Geometry, alpha_i: float,
             mask: np.ndarray | None = None, target_alpha_i: float | None = None,
             where: str = "image") -> Resampled:
    """Resample ``image`` [rows, cols] (rows from the bottom; NaN or ``mask`` True = masked)
    measured on ``source`` with the beam at ``alpha_i`` (rad) onto ``target``.

    ``target_alpha_i`` (rad, default ``alpha_i``) is the incidence angle that places a flat
    target detector. Warns (:class:`OutsideWarning`, naming ``where``) when part of the
    target lies outside the source detector.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.shape != source.shape:
        raise ValueError(f"image {image.shape} does not match the source detector "
                         f"{source.shape}")
    bad = ~np.isfinite(image) if mask is None else (np.asarray(mask, bool) | ~np.isfinite(image))
    _, _, _, w_src = _directions(source, alpha_i)
    density = np.where(bad, 0.0, image) / w_src  # per solid angle
    ux, uy, uz, w_tgt = _directions(target, alpha_i if target_alpha_i is None
                                    else target_alpha_i)
    col, row = direction_to_pixel(ux, uy, uz, source, alpha_i)
    rows, cols = source.shape
    # pixel centres sit at j + 0.5: fractional indices, clamped within half a pixel of the edge
    fx, fy = col - 0.5, row - 0.5
    outside = ~(np.isfinite(fx) & np.isfinite(fy) & (col >= 0) & (col <= cols)
                & (row >= 0) & (row <= rows))
    fx = np.clip(np.nan_to_num(fx), 0.0, cols - 1.0)
    fy = np.clip(np.nan_to_num(fy), 0.0, rows - 1.0)
    j0 = np.minimum(np.floor(fx).astype(np.int64), max(cols - 2, 0))
    i0 = np.minimum(np.floor(fy).astype(np.int64), max(rows - 2, 0))
    j1, i1 = np.minimum(j0 + 1, cols - 1), np.minimum(i0 + 1, rows - 1)
    tx, ty = fx - j0, fy - i0
    out = np.zeros(target.shape)
    masked = outside.copy()
    for ii, jj, wgt in ((i0, j0, (1 - ty) * (1 - tx)), (i0, j1, (1 - ty) * tx),
                        (i1, j0, ty * (1 - tx)), (i1, j1, ty * tx)):
        out += wgt * density[ii, jj]
        masked |= (wgt > 1e-12) & bad[ii, jj]
    out *= w_tgt
    out[masked] = np.nan
    frac = float(outside.mean())
    if frac > 0:
        warnings.warn(f"{where}: {frac:.1%} of the model's detector grid lies outside the "
                      "measured detector (masked)", OutsideWarning, stacklevel=2)
    return Resampled(out, masked, frac)

