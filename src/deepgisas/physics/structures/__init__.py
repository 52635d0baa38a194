"""Interference (structure) types, one module each, and their registry ``STRUCTURES``."""

from __future__ import annotations

from deepgisas.physics.structures.base import Amplitudes, StructureType, key
from deepgisas.physics.structures.dilute import DILUTE
from deepgisas.physics.structures.hexagonal_lattice import HEXAGONAL_LATTICE
from deepgisas.physics.structures.paracrystal2d import HEXAGONAL_PARACRYSTAL, SQUARE_PARACRYSTAL
from deepgisas.physics.structures.radial_paracrystal import RADIAL_PARACRYSTAL
from deepgisas.physics.structures.square_lattice import SQUARE_LATTICE

STRUCTURES: dict[str, StructureType] = {
    t.name: t for t in (DILUTE, HEXAGONAL_LATTICE, SQUARE_LATTICE, RADIAL_PARACRYSTAL,
                        SQUARE_PARACRYSTAL, HEXAGONAL_PARACRYSTAL)}

__all__ = ["STRUCTURES", "Amplitudes", "StructureType", "key"]
