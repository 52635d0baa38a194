"""Measured images for a model: read any supported file, then, given the instrument that
measured it, resample it onto the model's detector grid.

Rows are alpha_f from low to high (row 0 = bottom), columns phi_f from low to high, masked
pixels NaN (see :mod:`deepgisas.io.readers` for the orientation of each format).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from deepgisas.errors import UserError
from deepgisas.io.bundled import needs_instrument
from deepgisas.io.instrument import BeamMatch, match_beam, outside_entry
from deepgisas.io.readers import (
    DetectorImage,
    RawImage,
    describe_mask,
    detector_image,
    mask_reasons,
    masked_pixels,
    raw_array,
    read_detector_image,
    read_raw_image,
)
from deepgisas.io.resample import ResampleMap, resample_map, warn_outside
from deepgisas.sample import Beam, Detector
from deepgisas.templates import Template


def read_image(path: str | Path, frame: int = 0, orientation: str | None = None) -> np.ndarray:
    """float64 [rows, cols], row 0 = bottom, NaN where a pixel is masked."""
    return read_detector_image(path, frame=frame, orientation=orientation).data


def detector_masks(image: np.ndarray, detector: Detector) -> np.ndarray:
    """``image`` with NaN outside the detector's region of interest and inside its masks."""
    if detector.roi_px is None and not detector.mask_px:
        return image
    out = image.copy()
    keep = np.ones(image.shape, bool)
    if detector.roi_px is not None:
        c0, r0, c1, r1 = detector.roi_px
        keep[:] = False
        keep[r0:r1, c0:c1] = True
    for c0, r0, c1, r1 in detector.mask_px:
        keep[r0:r1, c0:c1] = False
    out[~keep] = np.nan
    return out


def read_measured(path: str | Path, detector: Detector | None = None,
                  instrument_path: str | None = None, frame: int = 0,
                  dataset: str | None = None, orientation: str | None = None,
                  keep_negative: bool = False) -> tuple[DetectorImage, np.ndarray]:
    """A detector file as measured: the :class:`~deepgisas.io.readers.DetectorImage` (read in
    ``orientation``, else the ``detector``'s, else the format's default) and its data with
    the detector's region of interest and masks applied (NaN). With ``detector``, the image
    must have its shape (a :class:`ShapeError` naming both files otherwise)."""
    orient = orientation or (detector.orientation if detector is not None else None)
    img = read_detector_image(path, frame=frame, dataset=dataset, orientation=orient,
                              keep_negative=keep_negative)
    if detector is None:
        return img, img.data
    if img.shape != detector.shape:
        raise ShapeError(f"image is {img.shape[0]} x {img.shape[1]}, the instrument's detector "
                         f"({instrument_path}) is {detector.shape[0]} x {detector.shape[1]}",
                         str(path))
    return img, detector_masks(img.data, detector)


class FrameSetupError(UserError):
    """An image that no retry mends, since the detector writes every frame alike: the
    wrong shape (no or the wrong instrument), or a grid that misses the measured detector."""


class ShapeError(FrameSetupError):
    """A readable image whose shape is not the detector's: a setup mistake (no or the wrong
    instrument), not a corrupt frame."""


class NegativeWarning(UserWarning):
    """Many pixels of an image are negative (not gap markers) and were masked."""


NEGATIVE_WARN = 0.01  # fraction of negative (non-gap) pixels that is warned about


class ModelImages:
    """Reads measured images onto a model's detector grid; the geometry work is done once.

    Without ``instrument`` an image must already have the model's shape. With it, an image
    must have the instrument detector's shape; it is read in the instrument detector's
    ``orientation``, its region of interest and masks are applied, and it is resampled
    (bilinear, masks carried) onto the model's grid *in q*: the instrument's wavelength and
    incidence angle are matched to the model's (:mod:`deepgisas.io.instrument`; ``match``
    records both beams, ``extrapolation`` what the model was not trained on). The instrument's
    alpha_i places its detector; the model's matched alpha_i places a flat model detector.
    The resampling map is computed once (:class:`~deepgisas.io.resample.ResampleMap`), and
    frames are resampled from their stored counts, so calling this from several threads
    reads many frames per second. ``keep_negative`` keeps negative pixel values
    (background-subtracted data); otherwise they are masked, and the first image with more
    than 1 % of them warns (:class:`NegativeWarning`).
    """

    def __init__(self, template: Template, instrument: tuple[Beam, Detector] | None = None,
                 instrument_path: str = "instrument", keep_negative: bool = False,
                 orientation: str | None = None) -> None:
        self.template, self.instrument, self.instrument_path = template, instrument, \
            instrument_path
        self.keep_negative = keep_negative
        self.orientation = orientation  # without an instrument (with one: its detector's)
        self.map: ResampleMap | None = None
        self.static_bad: np.ndarray | None = None
        self.match: BeamMatch | None = None
        self.extrapolation: list[dict[str, Any]] = []
        self._noted = False
        # rad: the instrument's incidence angle, and the one that places the model's grid
        self.alpha_i: float | None = None
        self.target_alpha_i: float | None = None
        if instrument is None:
            return
        beam, detector = instrument
        self.match = match_beam(template, beam, instrument_path)
        self.alpha_i, self.target_alpha_i = self.match.alpha_i, self.match.target_alpha_i
        self.map = resample_map(detector.geometry, template.base.detector.geometry,
                                self.alpha_i, self.target_alpha_i, self.match.ratio)
        roi = detector_masks(np.zeros(detector.shape), detector)
        self.static_bad = ~np.isfinite(roi) if not np.isfinite(roi).all() else None
        self.extrapolation = list(self.match.extrapolation)
        outside = outside_entry(self.map.outside_fraction)
        if outside is not None:
            self.extrapolation.append(outside)

    def same_grid(self, other: ModelImages) -> bool:
        """True when ``other`` puts an image on the same grid in the same way (the same
        detector, instrument, beams and reading rules), so its images can be reused."""
        def key(r: ModelImages) -> tuple:
            m = r.match
            beams = None if m is None else (m.alpha_i, m.ratio, m.target_alpha_i)
            return (r.template.base.detector, r.instrument, beams, r.keep_negative, r.orientation)

        return key(self) == key(other)

    @property
    def outside_fraction(self) -> float:
        """Fraction of the model's grid outside the measured detector (0 without instrument)."""
        return 0.0 if self.map is None else self.map.outside_fraction

    def _masked(self, values: np.ndarray) -> np.ndarray:
        return masked_pixels(values, self.keep_negative)

    def _note(self, raw: np.ndarray | None, path: str, reasons: dict | None = None) -> None:
        """Warn once (the first image) when many pixels are negative values, masked."""
        if self._noted or self.keep_negative:
            return
        self._noted = True
        reasons = reasons if reasons is not None else mask_reasons(raw)  # type: ignore[arg-type]
        if reasons.get("negative", 0) > NEGATIVE_WARN * reasons["pixels"]:
            warnings.warn(f"{path}: {describe_mask(reasons)}", NegativeWarning, stacklevel=3)

    def __call__(self, path: str | Path, warn: bool = True) -> np.ndarray:
        """The image at ``path`` on the model's grid, float64 [rows, cols], NaN = masked.
        ``warn``: warn (OutsideWarning) when part of the grid lies outside the detector.
        Raises :class:`ShapeError` when the image does not have the expected shape."""
        orientation = self.orientation if self.instrument is None else \
            self.instrument[1].orientation
        return self.raw(read_raw_image(path, orientation=orientation), warn)

    def array(self, array: np.ndarray, name: str, warn: bool = True) -> np.ndarray:
        """An image already in memory (a Bluesky event's, a Tiled node's) on the model's
        grid, as :meth:`__call__`; ``name`` is what messages call it. It is read in the
        instrument detector's orientation, else in this reader's ``orientation``, else
        "top-down" (row 0 at the top, as area detectors store images)."""
        orientation = self.orientation if self.instrument is None else \
            self.instrument[1].orientation
        return self.raw(raw_array(array, name, orientation or "top-down"), warn)

    def raw(self, raw: RawImage, warn: bool = True) -> np.ndarray:
        """A :class:`RawImage` (a file's, or an array's from
        :func:`~deepgisas.io.readers.raw_array`) on the model's grid, as :meth:`__call__`."""
        path = raw.path
        if self.instrument is None or self.map is None:
            image = detector_image(raw, self.keep_negative)
            self._note(None, path, image.metadata["masked"])
            img = image.data
            shape = self.template.base.detector.shape
            if img.shape != shape:
                raise ShapeError(f"image is {img.shape[0]} x {img.shape[1]}, the model's "
                                 f"detector is {shape[0]} x {shape[1]}: to resample it, "
                                 f"{needs_instrument()}", path)
            return img
        detector = self.instrument[1]
        shape = raw.raw.shape[::-1] if raw.orientation == "vertical" else raw.raw.shape
        if tuple(shape) != tuple(detector.shape):
            raise ShapeError(f"image is {shape[0]} x {shape[1]}, the instrument's detector "
                             f"({self.instrument_path}) is {detector.shape[0]} x "
                             f"{detector.shape[1]}", path)
        self._note(raw.raw, path)
        out = self.map.apply_raw(raw.raw, raw.orientation, self._masked, self.static_bad)
        if warn:
            warn_outside(out.outside, path)
        if out.mask.all():
            raise FrameSetupError("the model's detector grid lies entirely outside the measured "
                                  f"detector or on masked pixels (instrument "
                                  f"{self.instrument_path})", path)
        return out.data


def image_for_model(path: str | Path, template: Template,
                    instrument: tuple[Beam, Detector] | None = None,
                    instrument_path: str = "instrument", keep_negative: bool = False
                    ) -> np.ndarray:
    """The image at ``path`` on ``template``'s detector grid, float64, NaN = masked (see
    :class:`ModelImages`; the resampling map is cached per geometry)."""
    return ModelImages(template, instrument, instrument_path, keep_negative)(path)
