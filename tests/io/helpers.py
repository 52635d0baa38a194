"""The real detector files (../shared/data/real from the repository root) and their
instrument descriptions (tests/io/instruments)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / ".." / "shared" / "data" / "real"
INSTRUMENTS = Path(__file__).resolve().parent / "instruments"

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
