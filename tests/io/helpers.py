"""The real detector files (../shared/data/real from the repository root), their
instrument descriptions (bundled: src/deepgisas/examples/instruments) and the GALAXI one as a
PONI file."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepgisas.io import bundled

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / ".." / "shared" / "data" / "real"
INSTRUMENTS = bundled.INSTRUMENTS

# name: (file, instrument, orientation, shape)
FILES = {
    "galaxi": ("galaxi_raw_data.tif.gz", "galaxi.yaml", None, (1043, 981)),
    "chess": ("pspb05_180.tif", "chess_pspb.yaml", None, (1024, 1024)),
    "swing": ("swing_mesocrystal_004_230_P144.edf.gz", "swing_mesocrystal.yaml", None,
              (1024, 1024)),
    "maria": ("maria_gisans_raw.txt.gz", "maria.yaml", "vertical", (1024, 1024)),
}


def real(name: str) -> Path:
    """The path of a real file; skips the test when the data folder is absent."""
    p = REAL / FILES[name][0]
    if not p.is_file():
        pytest.skip(f"real data not found: {p}")
    return p


def galaxi_poni(config: str = '{"pixel1": 0.000172, "pixel2": 0.000172, '
                '"max_shape": [1043, 981]}', detector: str = "Detector",
                poni1_px: float = 1043 - 323.4, poni2_px: float = 597.1) -> str:
    """The GALAXI instrument (the bundled galaxi.yaml) as pyFAI writes it: Poni1 from
    the edge of the first stored row (the top of the detector), Poni2 from the left edge."""
    return ("# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis\n"
            "poni_version: 2.1\n"
            f"Detector: {detector}\nDetector_config: {config}\n"
            "Distance: 1.73\n"
            f"Poni1: {poni1_px * 172e-6!r}\nPoni2: {poni2_px * 172e-6!r}\n"
            "Rot1: 0\nRot2: 0\nRot3: 0\nWavelength: 1.341e-10\n")
