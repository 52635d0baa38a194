"""pyFAI PONI files -> a flat detector geometry (pyFAI is not needed: the text is parsed).

A PONI file gives, in metres and radians, ``Distance``, ``Poni1`` (along the slow axis, the
array's rows, from the edge of row 0 as stored in the detector file), ``Poni2`` (along the fast
axis, the columns), ``Rot1..3``, the pixel sizes (``PixelSize1/2`` in version 1,
``Detector_config`` JSON ``pixel1/pixel2`` in version 2, or a known detector name such as
``Pilatus1M``) and ``Wavelength``. With no rotation the point of normal incidence is where the
direct beam hits. pyFAI's pixel i spans [i, i+1), as ours, and its default orientation (3, or
0 / absent) counts both axes from the stored array's origin, so the beam centre is
column = Poni2 / pixel2 and, since detector files store the top row first and deepgisas counts
rows from the bottom, row = rows - Poni1 / pixel1. pyFAI 2024's ``orientation`` 1, 2 and 4
count an axis from the other end instead (1: both, 2: the rows, 4: the columns). Tilted
detectors (any rotation above 1e-6 rad) are refused: deepgisas models a flat detector
perpendicular to the direct beam. A PONI file has no incidence angle: the caller gives it
(:func:`poni_instrument`, ``--alpha-i`` on the command line).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepgisas.errors import UserError
from deepgisas.io.text import read_text
from deepgisas.priors import finite_float
from deepgisas.sample import Beam, Detector, Rectangular

MAX_TILT = 1e-6  # rad: larger rotations are a tilted detector, which we do not model

# pixel size (m) and full shape (rows, columns) of the named detectors pyFAI writes without
# pixel sizes in Detector_config (pyFAI.detectors); names compare without spaces, '_', '-', CdTe
_P172, _E75, _P150 = 172e-6, 75e-6, 150e-6
KNOWN_DETECTORS: dict[str, tuple[float, tuple[int, int]]] = {
    "pilatus100k": (_P172, (195, 487)), "pilatus200k": (_P172, (407, 487)),
    "pilatus300k": (_P172, (619, 487)), "pilatus300kw": (_P172, (195, 1475)),
    "pilatus900k": (_P172, (619, 1475)), "pilatus1m": (_P172, (1043, 981)),
    "pilatus2m": (_P172, (1679, 1475)), "pilatus6m": (_P172, (2527, 2463)),
    "pilatus4260k": (_P150, (530, 513)), "pilatus4260kw": (_P150, (255, 1033)),
    "pilatus41m": (_P150, (1080, 1033)), "pilatus42m": (_P150, (1630, 1553)),
    "pilatus44m": (_P150, (2180, 2073)),
    "eiger500k": (_E75, (514, 1030)), "eiger1m": (_E75, (1065, 1030)),
    "eiger4m": (_E75, (2167, 2070)), "eiger9m": (_E75, (3269, 3110)),
    "eiger16m": (_E75, (4371, 4150)),
    "eiger2250k": (_E75, (512, 512)), "eiger2500k": (_E75, (512, 1028)),
    "eiger21m": (_E75, (1062, 1028)), "eiger21mw": (_E75, (512, 2068)),
    "eiger22mw": (_E75, (512, 4148)), "eiger24m": (_E75, (2162, 2068)),
    "eiger29m": (_E75, (3262, 3108)), "eiger216m": (_E75, (4362, 4148)),
}
ORIENTATIONS = (0, 1, 2, 3, 4)  # pyFAI's Orientation values that are plain flips


def _detector_key(name: str) -> str:
    key = name.lower()
    for s in (" ", "_", "-", "cdte"):
        key = key.replace(s, "")
    return key


@dataclass(frozen=True)
class Poni:
    """A PONI file's numbers, SI units as pyFAI writes them (m, rad); ``orientation`` is
    pyFAI's (3 = its native one, as 0 or absent)."""

    distance_m: float
    poni1_m: float
    poni2_m: float
    rot: tuple[float, float, float]
    pixel1_m: float
    pixel2_m: float
    wavelength_m: float | None = None
    max_shape: tuple[int, int] | None = None
    orientation: int = 3
    detector: str = "Detector"


def _config(values: dict[str, str], where: str) -> dict[str, Any]:
    """The Detector_config JSON (empty if absent)."""
    if "detector_config" not in values:
        return {}
    try:
        cfg = json.loads(values["detector_config"])
    except ValueError:
        raise UserError("Detector_config is not JSON", where) from None
    if not isinstance(cfg, dict):
        raise UserError("Detector_config is not a JSON object", where)
    return cfg


def _shape(value: Any, where: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if (not isinstance(value, list | tuple) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                       for v in value)):
        raise UserError(f"max_shape must be two positive integers, got {value!r}", where)
    return int(value[0]), int(value[1])


def read_poni(path: str | Path) -> Poni:
    """Parse a PONI file (version 1 or 2); one-line UserErrors name the file."""
    p = Path(path)
    where = str(p)
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
            raise UserError(f"no {key!r} line", where)
        return finite_float(values[key], where, key)

    if not values:
        raise UserError("not a PONI file (no 'key: value' lines)", where)
    distance, poni1, poni2 = num("distance"), num("poni1"), num("poni2")
    cfg = _config(values, where)
    name = values.get("detector", "Detector")
    shape = _shape(cfg.get("max_shape"), where)
    if cfg.get("pixel1") is not None or cfg.get("pixel2") is not None:
        pixel1, pixel2 = (finite_float(cfg.get(k), where, f"Detector_config {k}")
                          for k in ("pixel1", "pixel2"))
    elif "pixelsize1" in values or "pixelsize2" in values:
        pixel1, pixel2 = num("pixelsize1"), num("pixelsize2")
    elif _detector_key(name) in KNOWN_DETECTORS:
        size, full = KNOWN_DETECTORS[_detector_key(name)]
        pixel1 = pixel2 = size
        shape = shape or full
    else:
        raise UserError(f"no pixel size: give pixel1 and pixel2 (m) in Detector_config (the "
                        f"detector {name!r} is not one deepgisas knows)", where)
    if cfg.get("binning") not in (None, 1, [1, 1]):
        raise UserError(f"binning {cfg['binning']!r} is not supported: write the PONI file "
                        "for the binned detector (its pixel1, pixel2 and max_shape)", where)
    if cfg.get("splineFile") or cfg.get("x_offset_file"):
        raise UserError("detector distortion files (splineFile, offset files) are not "
                        "supported", where)
    orientation = cfg.get("orientation", 3)
    if orientation not in ORIENTATIONS:
        raise UserError(f"orientation {orientation!r} is not supported (pyFAI's 0 to 4)",
                        where)
    poni = Poni(distance, poni1, poni2,
                (num("rot1", 0.0), num("rot2", 0.0), num("rot3", 0.0)), pixel1, pixel2,
                num("wavelength") if "wavelength" in values else None, shape,
                int(orientation) or 3, name)
    if min(poni.distance_m, poni.pixel1_m, poni.pixel2_m) <= 0:
        raise UserError("distance and pixel sizes must be positive", where)
    if poni.wavelength_m is not None and poni.wavelength_m <= 0:
        raise UserError("wavelength must be positive", where)
    return poni


def poni_to_rectangular(poni: Poni, shape: tuple[int, int] | None = None,
                        where: str = "PONI", orientation: str | None = None) -> Rectangular:
    """The flat detector of a PONI geometry for an image of ``shape`` (rows, cols as stored;
    default the PONI's max_shape) stored in its file with the top row first (every detector
    format but .npy; see :mod:`deepgisas.io.readers`), or as ``orientation`` says:
    "bottom-up" (row 0 at the bottom) or "vertical" (a vertical-sample instrument: the stored
    rows run along phi_f and the stored columns along alpha_f, upwards, so the image is
    transposed). Square pixels and no rotation are required."""
    shape = shape or poni.max_shape
    if shape is None:
        raise UserError("the detector shape is not in the file: add \"max_shape\": [rows, "
                        "columns] to Detector_config", where)
    tilted = [f"rot{i + 1} = {r:.3g}" for i, r in enumerate(poni.rot) if abs(r) > MAX_TILT]
    if tilted:
        raise UserError(f"tilted detector ({', '.join(tilted)} rad) is not supported: deepgisas "
                        "models a flat detector perpendicular to the direct beam (calibrate "
                        "with the rotations fixed at 0)", where)
    if abs(poni.pixel1_m - poni.pixel2_m) > 1e-9 * max(poni.pixel1_m, poni.pixel2_m):
        raise UserError(f"non-square pixels ({poni.pixel1_m} x {poni.pixel2_m} m) are not "
                        "supported", where)
    rows, cols = int(shape[0]), int(shape[1])
    along1, along2 = poni.poni1_m / poni.pixel1_m, poni.poni2_m / poni.pixel2_m
    stored_row = rows - along1 if poni.orientation in (1, 2) else along1  # from stored row 0
    column = cols - along2 if poni.orientation in (1, 4) else along2  # from stored column 0
    pixel_mm, distance_mm = poni.pixel2_m * 1e3, poni.distance_m * 1e3
    if orientation == "vertical":  # stored row -> column, stored column -> row from the bottom
        return Rectangular((cols, rows), pixel_mm, distance_mm, (stored_row, column))
    row = stored_row if orientation == "bottom-up" else rows - stored_row
    return Rectangular((rows, cols), pixel_mm, distance_mm, (column, row))


def poni_instrument(path: str | Path, alpha_i_deg: float | None,
                    orientation: str | None = None) -> tuple[Beam, Detector]:
    """The beam and detector of a PONI file (the ``--instrument`` of a ``.poni`` file): the
    wavelength from its ``Wavelength``, the incidence angle ``alpha_i_deg`` (deg) from the
    caller, since a PONI file has none; ``orientation`` (the CLI's ``--orientation``) as
    :func:`poni_to_rectangular` takes it, kept in the detector for the readers."""
    where = str(path)
    poni = read_poni(path)
    if poni.wavelength_m is None:
        raise UserError("no 'wavelength' line: the beam's wavelength is needed", where)
    if alpha_i_deg is None:
        raise UserError("a PONI file has no incidence angle: give it as alpha_i_deg", where,
                        setting="alpha_i_deg")
    geometry = poni_to_rectangular(poni, where=where, orientation=orientation)
    return Beam(poni.wavelength_m * 1e9, float(alpha_i_deg)), Detector(geometry,
                                                                          orientation=orientation)


def rectangular_to_poni_text(geometry: Rectangular, wavelength_nm: float | None = None) -> str:
    """A version-2 PONI text for a flat detector (the inverse of :func:`poni_to_rectangular`)."""
    p = geometry.pixel_size_mm * 1e-3
    rows, cols = geometry.shape
    cfg = json.dumps({"pixel1": p, "pixel2": p, "max_shape": [rows, cols], "orientation": 3})
    lines = ["poni_version: 2", "Detector: Detector", f"Detector_config: {cfg}",
             f"Distance: {geometry.distance_mm * 1e-3!r}",
             f"Poni1: {(rows - geometry.beam_center_px[1]) * p!r}",
             f"Poni2: {geometry.beam_center_px[0] * p!r}", "Rot1: 0.0", "Rot2: 0.0", "Rot3: 0.0"]
    if wavelength_nm is not None:
        lines.append(f"Wavelength: {wavelength_nm * 1e-9!r}")
    return "\n".join(lines) + "\n"
