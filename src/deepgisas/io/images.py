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
from deepgisas.io.readers import read_detector_image
from deepgisas.io.resample import resample
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


def image_for_model(path: str | Path, template: Experiment,
                    instrument: tuple[Beam, Detector] | None = None,
                    instrument_path: str = "instrument") -> np.ndarray:
    """The image at ``path`` on ``template``'s detector grid, float64, NaN = masked.

    Without ``instrument`` the image must already have the model's shape. With it, the image
    must have the instrument detector's shape; its region of interest and masks are applied,
    and it is resampled (bilinear in angle, masks carried) onto the model's grid. The
    instrument's alpha_i places its detector; the model's own alpha_i (or the instrument's,
    if the model's is a prior) places a flat model detector.
    """
    img = read_image(path)
    if instrument is None:
        shape = template.detector.shape
        if img.shape != shape:
            raise UserError(f"image is {img.shape[0]} x {img.shape[1]}, the model's detector "
                            f"is {shape[0]} x {shape[1]} (give --instrument to resample)",
                            str(path))
        return img
    beam, detector = instrument
    if img.shape != detector.shape:
        raise UserError(f"image is {img.shape[0]} x {img.shape[1]}, the instrument's detector "
                        f"({instrument_path}) is {detector.shape[0]} x {detector.shape[1]}",
                        str(path))
    try:
        alpha_i, _ = beam_angles(beam)
    except UserError as exc:
        raise exc.located(instrument_path) from None
    t_ai = template.beam.alpha_i_deg
    target_ai = float(t_ai) * np.pi / 180 if isinstance(t_ai, int | float) else alpha_i
    out = resample(detector_masks(img, detector), detector.geometry,
                   template.detector.geometry, alpha_i, target_alpha_i=target_ai,
                   where=str(path))
    if out.mask.all():
        raise UserError("the model's detector grid lies entirely outside the measured "
                        f"detector or on masked pixels (instrument {instrument_path})",
                        str(path))
    return out.data
