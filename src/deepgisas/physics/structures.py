"""Parameter tables of the interference (structure) types; their kernels are in interference.py."""

from __future__ import annotations

from dataclasses import dataclass

from deepgisas.physics.params import INF, ParamSpec


@dataclass(frozen=True)
class StructureType:
    """An interference type: its parameter table and what it means in BornAgain 25."""

    name: str
    params: tuple[ParamSpec, ...]
    description: str
    has_orientation: bool = False


STRUCTURES: dict[str, StructureType] = {
    "dilute": StructureType(
        "dilute",
        (ParamSpec("area_density_per_nm2", "1/nm^2", 0.001, (0.0, INF), "particles per nm^2"),),
        "no correlations (ba.Dilute2D(area_density, particle))",
    ),
    "hexagonal_lattice": StructureType(
        "hexagonal_lattice",
        (
            ParamSpec("a_nm", "nm", 34.0, (0.0, INF), "lattice constant"),
            ParamSpec("decay_nm", "nm", 150.0, (0.0, INF), "Cauchy decay length (peak width)"),
            ParamSpec(
                "position_variance_nm2", "nm^2", 0.0, (0.0, INF),
                "lateral position variance (Debye-Waller)", lo_open=False,
            ),
        ),
        "ba.Crystal2D(particle, ba.HexagonalLattice2D(a, xi)) with a 2D Cauchy decay, one "
        "weighted deposit per lattice rotation xi",
        has_orientation=True,
    ),
    "radial_paracrystal": StructureType(
        "radial_paracrystal",
        (
            ParamSpec("distance_nm", "nm", 20.0, (0.0, INF), "peak (nearest-neighbour) distance"),
            ParamSpec("damping_length_nm", "nm", 1.0e6, (0.0, INF), "damping length"),
            ParamSpec("omega_nm", "nm", 5.0, (0.0, INF), "Gaussian width of the distance"),
            ParamSpec("kappa", "1", 0.0, (0.0, INF), "size-spacing coupling", lo_open=False),
            ParamSpec(
                "domain_size_nm", "nm", 0.0, (0.0, INF),
                "coherent domain size (0: infinite)", lo_open=False,
            ),
        ),
        "ba.RadialParacrystal(particle, distance, damping_length) with a Gaussian distance "
        "distribution (ba.Profile1DGauss(omega)), kappa and domain size",
    ),
}
