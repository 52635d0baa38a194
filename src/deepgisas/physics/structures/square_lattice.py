"""Square lattice domains: ba.Crystal2D with ba.SquareLattice2D(a, xi), rotated by xi in each
domain.

The kernel is the generic 2D lattice window sum (:mod:`.lattice2d`) with the square basis
(a2 at 90 deg from a1: |g|^2 = (2 pi / a)^2 (u^2 + v^2), cell area a^2); BornAgain's window
bounds along a1* and a2* are equal for it, n = max(round(20 a / (2 pi w) + 1/2), 4).
"""

from __future__ import annotations

from deepgisas.physics.structures.lattice2d import LATTICE_PARAMS, SQUARE, Lattice2D

SQUARE_LATTICE = Lattice2D(
    "square_lattice",
    LATTICE_PARAMS,
    "ba.Crystal2D(particle, ba.SquareLattice2D(a, xi)) with a 2D Cauchy decay, one "
    "weighted deposit per lattice rotation xi",
    has_orientation=True,
    isotropic=False,
    spacing="a_nm",
    basis=SQUARE,
)
