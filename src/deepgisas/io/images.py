"""Measured images for a model: read any supported file, then, given the instrument that
measured it, resample it onto the model's detector grid.

Rows are alpha_f from low to high (row 0 = bottom), columns phi_f from low to high, masked
pixels NaN (see :mod:`deepgisas.io.readers` for the orientation of each format).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepgisas.errors import UserError
from deepgisas.io.geometry import beam_angles
from deepgisas.io.readers import masked_pixels, read_detector_image, read_raw_image
from deepgisas.io.resample import ResampleMap, resample_map, warn_outside
from deepgisas.sample import Beam, Detector, Experiment


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


class ModelImages:
    """Reads measured images onto a model's detector grid; the geometry work is done once.

    Without ``instrument`` an image must already have the model's shape. With it, an image
    must have the instrument detector's shape; its region of interest and masks are applied,
    and it is resampled (bilinear in angle, masks carried) onto the model's grid. The
    instrument's alpha_i places its detector; the model's own alpha_i (or the instrument's,
    if the model's is a prior) places a flat model detector. The resampling map is computed
    once (:class:`~deepgisas.io.resample.ResampleMap`), and frames are resampled from their
    stored counts, so calling this from several threads reads many frames per second.
    """

    def __init__(self, template: Experiment, instrument: tuple[Beam, Detector] | None = None,
                 instrument_path: str = "instrument") -> None:
        self.template, self.instrument, self.instrument_path = template, instrument, \
            instrument_path
        self.map: ResampleMap | None = None
        self.static_bad: np.ndarray | None = None
        # rad: the instrument's incidence angle, and the one that places the model's grid
        self.alpha_i: float | None = None
        self.target_alpha_i: float | None = None
        if instrument is None:
            return
        beam, detector = instrument
        try:
            alpha_i, _ = beam_angles(beam)
        except UserError as exc:
            raise exc.located(instrument_path) from None
        t_ai = template.beam.alpha_i_deg
        target_ai = float(t_ai) * np.pi / 180 if isinstance(t_ai, int | float) else alpha_i
        self.alpha_i, self.target_alpha_i = alpha_i, target_ai
        self.map = resample_map(detector.geometry, template.detector.geometry, alpha_i,
                                target_ai)
        roi = detector_masks(np.zeros(detector.shape), detector)
        self.static_bad = ~np.isfinite(roi) if not np.isfinite(roi).all() else None

    @property
    def outside_fraction(self) -> float:
        """Fraction of the model's grid outside the measured detector (0 without instrument)."""
        return 0.0 if self.map is None else self.map.outside_fraction

    def __call__(self, path: str | Path, warn: bool = True) -> np.ndarray:
        """The image at ``path`` on the model's grid, float64 [rows, cols], NaN = masked.
        ``warn``: warn (OutsideWarning) when part of the grid lies outside the detector."""
        if self.instrument is None or self.map is None:
            img = read_image(path)
            shape = self.template.detector.shape
            if img.shape != shape:
                raise UserError(f"image is {img.shape[0]} x {img.shape[1]}, the model's "
                                f"detector is {shape[0]} x {shape[1]} (give --instrument to "
                                "resample)", str(path))
            return img
        raw = read_raw_image(path)
        shape = raw.raw.shape[::-1] if raw.orientation == "vertical" else raw.raw.shape
        detector = self.instrument[1]
        if tuple(shape) != tuple(detector.shape):
            raise UserError(f"image is {shape[0]} x {shape[1]}, the instrument's detector "
                            f"({self.instrument_path}) is {detector.shape[0]} x "
                            f"{detector.shape[1]}", str(path))
        out = self.map.apply_raw(raw.raw, raw.orientation, masked_pixels, self.static_bad)
        if warn:
            warn_outside(out.outside, str(path))
        if out.mask.all():
            raise UserError("the model's detector grid lies entirely outside the measured "
                            f"detector or on masked pixels (instrument "
                            f"{self.instrument_path})", str(path))
        return out.data


def image_for_model(path: str | Path, template: Experiment,
                    instrument: tuple[Beam, Detector] | None = None,
                    instrument_path: str = "instrument") -> np.ndarray:
    """The image at ``path`` on ``template``'s detector grid, float64, NaN = masked (see
    :class:`ModelImages`; the resampling map is cached per geometry)."""
    return ModelImages(template, instrument, instrument_path)(path)
