"""pyFAI PONI files -> a flat detector geometry (pyFAI is not needed: the text is parsed).

A PONI file gives, in metres and radians, ``Distance``, ``Poni1`` (along the slow axis, the
array's rows counted from row 0 as stored), ``Poni2`` (along the fast axis, the columns),
``Rot1..3``, the pixel sizes (``PixelSize1/2`` in version 1, ``Detector_config`` JSON in
version 2) and ``Wavelength``. With no rotation the point of normal incidence is where the
direct beam hits, so (pyFAI's pixel i spans [i, i+1), as ours) the beam centre is
column = Poni2 / pixel2 and, rows counted from the bottom of an image of ``rows`` rows whose
file stores row 0 at the top, row = rows - Poni1 / pixel1. Tilted detectors are refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from deepgisas.errors import UserError
from deepgisas.io.text import read_text
from deepgisas.sample import Rectangular

MAX_TILT = 1e-6  # rad: larger rotations are a tilted detector, which we do not model


@dataclass(frozen=True)
class Poni:
    """A PONI file's numbers, SI units as pyFAI writes them (m, rad)."""

    distance_m: float
    poni1_m: float
    poni2_m: float
    rot: tuple[float, float, float]
    pixel1_m: float
    pixel2_m: float
    wavelength_m: float | None = None
    max_shape: tuple[int, int] | None = None


def read_poni(path: str | Path) -> Poni:
    """Parse a PONI file (version 1 or 2); one-line UserErrors name the file."""
    p = Path(path)
    text = read_text(p)
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, value = line.split(":", 1)
        values[key.strip().lower()] = value.strip()

    def num(key: str, default: float | None = None) -> float:
        if key not in values:
            if default is not None:
                return default
            raise UserError(f"no {key!r} line", str(p))
        try:
            v = float(values[key])
        except ValueError:
            raise UserError(f"{key} is not a number: {values[key]!r}", str(p)) from None
        if not math.isfinite(v):
            raise UserError(f"{key} is not finite", str(p))
        return v

    pixel1 = pixel2 = None
    shape = None
    if "detector_config" in values:
        try:
            cfg = json.loads(values["detector_config"])
            pixel1, pixel2 = float(cfg["pixel1"]), float(cfg["pixel2"])
            if cfg.get("max_shape"):
                shape = (int(cfg["max_shape"][0]), int(cfg["max_shape"][1]))
        except (ValueError, KeyError, TypeError, IndexError):
            raise UserError("Detector_config is not JSON with pixel1 and pixel2", str(p)) from None
    else:
        pixel1, pixel2 = num("pixelsize1"), num("pixelsize2")
    poni = Poni(num("distance"), num("poni1"), num("poni2"),
                (num("rot1", 0.0), num("rot2", 0.0), num("rot3", 0.0)), pixel1, pixel2,
                num("wavelength") if "wavelength" in values else None, shape)
    if min(poni.distance_m, poni.pixel1_m, poni.pixel2_m) <= 0:
        raise UserError("distance and pixel sizes must be positive", str(p))
    return poni


def poni_to_rectangular(poni: Poni, shape: tuple[int, int] | None = None,
                        where: str = "PONI") -> Rectangular:
    """The flat detector of a PONI geometry for an image of ``shape`` (rows, cols; default the
    PONI's max_shape). Square pixels and no rotation are required."""
    shape = shape or poni.max_shape
    if shape is None:
        raise UserError("the detector shape is not in the file: give the image", where)
    if max(abs(r) for r in poni.rot) > MAX_TILT:
        raise UserError(f"tilted detectors (rot = {poni.rot}) are not supported", where)
    if abs(poni.pixel1_m - poni.pixel2_m) > 1e-9 * max(poni.pixel1_m, poni.pixel2_m):
        raise UserError(f"non-square pixels ({poni.pixel1_m} x {poni.pixel2_m} m) are not "
                        "supported", where)
    rows = int(shape[0])
    return Rectangular((rows, int(shape[1])), poni.pixel2_m * 1e3, poni.distance_m * 1e3,
                       (poni.poni2_m / poni.pixel2_m, rows - poni.poni1_m / poni.pixel1_m))


def rectangular_to_poni_text(geometry: Rectangular, wavelength_nm: float | None = None) -> str:
    """A version-2 PONI text for a flat detector (the inverse of :func:`poni_to_rectangular`)."""
    p = geometry.pixel_size_mm * 1e-3
    rows, cols = geometry.shape
    cfg = json.dumps({"pixel1": p, "pixel2": p, "max_shape": [rows, cols]})
    lines = ["poni_version: 2", "Detector: Detector", f"Detector_config: {cfg}",
             f"Distance: {geometry.distance_mm * 1e-3!r}",
             f"Poni1: {(rows - geometry.beam_center_px[1]) * p!r}",
             f"Poni2: {geometry.beam_center_px[0] * p!r}", "Rot1: 0.0", "Rot2: 0.0", "Rot3: 0.0"]
    if wavelength_nm is not None:
        lines.append(f"Wavelength: {wavelength_nm * 1e-9!r}")
    return "\n".join(lines) + "\n"
