"""Measured image -> a model's detector grid, in angle space (or in q), masks carried along.

Each target pixel looks up its direction (the simulator's, :mod:`deepgisas.io.geometry`) on
the source detector and takes the bilinear interpolation of the four source pixels around
that point. With ``ratio`` = lambda_source / lambda_target other than 1, the direction looked
up is the one with the same q_y and k_f,z at the source's wavelength: its y and z components
times ``ratio`` (:mod:`deepgisas.io.instrument`). Intensities are converted per solid angle
on the way (divided by the source pixel's weight, multiplied by the target's), so a flat
detector's counts become what the simulator would put in the target pixel up to one overall
factor. A target pixel is masked
(NaN) if any source pixel it needs is masked, or if it falls outside the source detector;
the fraction of target pixels outside is returned and warned about.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
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


class ResampleMap:
    """The resampling from one source geometry onto one target, computed once.

    For each target pixel: the flat indices of its four source pixels (rows from the bottom),
    their bilinear weights, their solid angles, its own solid angle and whether it lies outside
    the source. Applying it costs one gather of 4 x (target pixels) values, so a stream of
    Pilatus frames is resampled without converting every source pixel; the arithmetic is the
    same, in the same order, for float images (:meth:`apply`) and for raw counts
    (:meth:`apply_raw`), so both give identical numbers.
    """

    def __init__(self, source: Geometry, target: Geometry, alpha_i: float,
                 target_alpha_i: float | None = None, ratio: float = 1.0) -> None:
        self.source_shape, self.target_shape = source.shape, target.shape
        _, _, _, w_src = _directions(source, alpha_i)
        ux, uy, uz, w_tgt = _directions(target, alpha_i if target_alpha_i is None
                                        else target_alpha_i)
        if ratio != 1.0:  # the same q_y and k_f,z at the source's wavelength
            uy, uz = uy * ratio, uz * ratio
            with np.errstate(invalid="ignore"):
                ux = np.sqrt(1.0 - uy * uy - uz * uz)  # NaN: no such direction (outside)
        col, row = direction_to_pixel(ux, uy, uz, source, alpha_i)
        rows, cols = source.shape
        # pixel centres sit at j + 0.5: fractional indices, clamped within half a pixel of the
        # edge
        fx, fy = col - 0.5, row - 0.5
        outside = ~(np.isfinite(fx) & np.isfinite(fy) & (col >= 0) & (col <= cols)
                    & (row >= 0) & (row <= rows))
        fx = np.clip(np.nan_to_num(fx), 0.0, cols - 1.0)
        fy = np.clip(np.nan_to_num(fy), 0.0, rows - 1.0)
        j0 = np.minimum(np.floor(fx).astype(np.int64), max(cols - 2, 0))
        i0 = np.minimum(np.floor(fy).astype(np.int64), max(rows - 2, 0))
        j1, i1 = np.minimum(j0 + 1, cols - 1), np.minimum(i0 + 1, rows - 1)
        tx, ty = fx - j0, fy - i0
        corners = ((i0, j0, (1 - ty) * (1 - tx)), (i0, j1, (1 - ty) * tx),
                   (i1, j0, ty * (1 - tx)), (i1, j1, ty * tx))
        self.rows = np.stack([c[0].ravel() for c in corners])  # [4, T] source rows
        self.cols = np.stack([c[1].ravel() for c in corners])  # [4, T] source columns
        self.weight = np.stack([c[2].ravel() for c in corners])  # [4, T] bilinear
        self.w_src = w_src[self.rows, self.cols]  # [4, T] source solid angles
        self.w_tgt = w_tgt.ravel()  # [T]
        self.needed = self.weight > 1e-12  # [4, T]
        self.outside = outside.ravel()  # [T]
        self._flat: dict[tuple[str, tuple[int, int]], np.ndarray] = {}

    @property
    def outside_fraction(self) -> float:
        return float(self.outside.mean())

    def _combine(self, values: np.ndarray, bad: np.ndarray) -> Resampled:
        """values, bad: [4, T] gathered source values and masks -> the target image."""
        density = np.where(bad, 0.0, values) / self.w_src  # per solid angle
        out = np.zeros(self.w_tgt.shape)
        masked = self.outside.copy()
        for k in range(4):
            out += self.weight[k] * density[k]
            masked |= self.needed[k] & bad[k]
        out *= self.w_tgt
        out[masked] = np.nan
        shape = self.target_shape
        return Resampled(out.reshape(shape), masked.reshape(shape), self.outside_fraction)

    def apply(self, image: np.ndarray, mask: np.ndarray | None = None) -> Resampled:
        """``image`` [rows, cols] float (rows from the bottom; NaN or ``mask`` True = masked)
        on the source grid -> the target grid."""
        image = np.asarray(image, dtype=np.float64)
        if image.shape != self.source_shape:
            raise ValueError(f"image {image.shape} does not match the source detector "
                             f"{self.source_shape}")
        bad = ~np.isfinite(image) if mask is None else (np.asarray(mask, bool)
                                                         | ~np.isfinite(image))
        return self._combine(image[self.rows, self.cols], bad[self.rows, self.cols])

    def flat_index(self, orientation: str, stored_shape: tuple[int, int]) -> np.ndarray:
        """[4, T] indices into the raveled image as stored in a file, for the readers'
        orientations ("bottom-up", "top-down", "vertical" = transposed)."""
        key = (orientation, stored_shape)
        if key not in self._flat:
            rows, cols = self.source_shape
            if orientation == "vertical":
                flat = self.cols * rows + self.rows  # the file holds the transpose
            elif orientation == "top-down":
                flat = (rows - 1 - self.rows) * cols + self.cols
            else:
                flat = self.rows * cols + self.cols
            self._flat[key] = flat
        return self._flat[key]

    def apply_raw(self, raw: np.ndarray, orientation: str, masked: Callable[[np.ndarray],
                  np.ndarray], static_bad: np.ndarray | None = None) -> Resampled:
        """A stored image ``raw`` (the file's dtype and row order, see
        :class:`deepgisas.io.readers.RawImage`) -> the target grid, gathering only the source
        pixels needed. ``masked(values)`` gives the masked values (the readers' rule);
        ``static_bad`` [rows, cols] (rows from the bottom) masks more source pixels (region of
        interest, masks)."""
        shape = raw.shape[::-1] if orientation == "vertical" else raw.shape
        if tuple(shape) != tuple(self.source_shape):
            raise ValueError(f"image {tuple(shape)} does not match the source detector "
                             f"{self.source_shape}")
        values = raw.ravel()[self.flat_index(orientation, raw.shape)]
        bad = masked(values)
        if static_bad is not None:
            bad = bad | static_bad[self.rows, self.cols]
        return self._combine(values.astype(np.float64), bad)


@functools.lru_cache(maxsize=8)
def resample_map(source: Geometry, target: Geometry, alpha_i: float,
                 target_alpha_i: float | None = None, ratio: float = 1.0) -> ResampleMap:
    """The :class:`ResampleMap` for these geometries, cached (geometries are frozen)."""
    return ResampleMap(source, target, alpha_i, target_alpha_i, ratio)


def warn_outside(frac: float, where: str) -> None:
    if frac > 0:
        warnings.warn(f"{where}: {frac:.1%} of the model's detector grid lies outside the "
                      "measured detector (masked)", OutsideWarning, stacklevel=3)


def resample(image: np.ndarray, source: Geometry, target: Geometry, alpha_i: float,
             mask: np.ndarray | None = None, target_alpha_i: float | None = None,
             where: str = "image") -> Resampled:
    """Resample ``image`` [rows, cols] (rows from the bottom; NaN or ``mask`` True = masked)
    measured on ``source`` with the beam at ``alpha_i`` (rad) onto ``target``.

    ``target_alpha_i`` (rad, default ``alpha_i``) is the incidence angle that places a flat
    target detector. Warns (:class:`OutsideWarning`, naming ``where``) when part of the
    target lies outside the source detector. The map is computed once per geometry
    (:func:`resample_map`).
    """
    image = np.asarray(image, dtype=np.float64)
    if image.shape != source.shape:
        raise ValueError(f"image {image.shape} does not match the source detector "
                         f"{source.shape}")
    out = resample_map(source, target, float(alpha_i),
                       None if target_alpha_i is None else float(target_alpha_i)
                       ).apply(image, mask)
    warn_outside(out.outside, where)
    return out
