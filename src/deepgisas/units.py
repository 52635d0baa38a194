"""One unit system: lengths in nm, angles in rad inside; degrees only at the edges.

Description files, the CLI and plots speak degrees; every physics kernel receives radians.
"""

from __future__ import annotations

import math

DEG = math.pi / 180.0
"""Radians per degree."""


def wavenumber(wavelength_nm: float) -> float:
    """Vacuum wave number k = 2 pi / lambda, in 1/nm."""
    return 2.0 * math.pi / wavelength_nm
