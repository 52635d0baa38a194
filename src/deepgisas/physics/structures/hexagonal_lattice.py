"""Hexagonal lattice domains: ba.Crystal2D with ba.HexagonalLattice2D(a, xi), rotated by xi in
each domain.

The kernel is the generic 2D lattice window sum (:mod:`.lattice2d`) with the hexagonal basis
(a2 at 120 deg from a1); the functions here are that kernel with the basis fixed.
"""

from __future__ import annotations

from torch import Tensor

from deepgisas.physics.structures import lattice2d
from deepgisas.physics.structures.lattice2d import (
    FAR_GRID,
    FAR_HALF,
    HEXAGONAL,
    LATTICE_PARAMS,
    Lattice2D,
    lattice,
    lattice_exact,
    lattice_mix,
)
from deepgisas.physics.structures.lattice2d import A as A

__all__ = ["FAR_GRID", "FAR_HALF", "HEXAGONAL_LATTICE", "A", "far_table",
           "far_tables", "hex_cell_area", "hex_window", "hexagonal_lattice",
           "hexagonal_lattice_exact", "hexagonal_lattice_mix"]


def hex_cell_area(a: Tensor) -> Tensor:
    """Unit cell area (nm^2) of a hexagonal lattice of constant ``a`` (nm): sqrt3/2 a^2."""
    return HEXAGONAL.cell_area(a)


def hex_window(a: Tensor, w: Tensor) -> Tensor:
    """BornAgain's half-window n (the larger of n_a and n_b, on both axes) per experiment."""
    return HEXAGONAL.window(a, w)


def far_table(a: Tensor, w: Tensor, grid: int = FAR_GRID) -> Tensor:
    """[B, 1, grid, grid] far-point table of the hexagonal basis (``lattice2d.far_table``)."""
    return lattice2d.far_table(HEXAGONAL, a, w, grid)


def far_tables(a: Tensor, w: Tensor) -> Tensor:
    """:func:`far_table` once per distinct (a, w) (``lattice2d.far_tables``)."""
    return lattice2d.far_tables(HEXAGONAL, a, w)


def hexagonal_lattice(qx: Tensor, qy: Tensor, a: Tensor, w: Tensor, s: Tensor, xi: Tensor,
                      table: Tensor | None = None) -> Tensor:
    """S(q_par) of rotated hexagonal lattice domains, [B, K, H, W] (``lattice2d.lattice``:
    qx, qy [B, H, W] 1/nm; a, w, s [B] nm; xi [B, K] rad)."""
    return lattice(HEXAGONAL, qx, qy, a, w, s, xi, table)


def hexagonal_lattice_mix(qx: Tensor, qy: Tensor, a: Tensor, w: Tensor, s: Tensor, xi: Tensor,
                          coverage: Tensor, table: Tensor | None = None) -> Tensor:
    """sum_k coverage_k (S_k - 1) over the domains, [B, H, W] (``lattice2d.lattice_mix``)."""
    return lattice_mix(HEXAGONAL, qx, qy, a, w, s, xi, coverage, table)


def hexagonal_lattice_exact(qx: Tensor, qy: Tensor, a: Tensor, w: Tensor, s: Tensor,
                            xi: Tensor) -> Tensor:
    """Same as :func:`hexagonal_lattice`, summing every window point per pixel (slow)."""
    return lattice_exact(HEXAGONAL, qx, qy, a, w, s, xi)


HEXAGONAL_LATTICE = Lattice2D(
    "hexagonal_lattice",
    LATTICE_PARAMS,
    "ba.Crystal2D(particle, ba.HexagonalLattice2D(a, xi)) with a 2D Cauchy decay, one "
    "weighted deposit per lattice rotation xi",
    has_orientation=True,
    isotropic=False,
    spacing="a_nm",
    basis=HEXAGONAL,
)
