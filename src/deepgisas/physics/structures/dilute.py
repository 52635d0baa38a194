"""Dilute particles: no correlations between positions (ba.Dilute2D)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from deepgisas.physics.params import INF, ParamSpec
from deepgisas.physics.structures.base import Amplitudes, Domains, Particle, StructureType, key

DENSITY = key("area_density_per_nm2")


class Dilute(StructureType):
    """S = 1: the intensity is the particles' mean |F|^2 times their density."""

    def density(self, p: dict[str, Tensor]) -> Tensor:
        return p[DENSITY]

    def intensity(self, p: dict[str, Tensor], prepared: Any, a: Amplitudes) -> Tensor:
        return a.mean_abs2()

    def bornagain(self, ba: Any, particle: Particle, values: dict[str, float],
                  xi_rad: Sequence[float] = (), weights: Sequence[float] = ()) -> Domains:
        return [(None, ba.Dilute2D(values["area_density_per_nm2"], particle()))]


DILUTE = Dilute(
    "dilute",
    (ParamSpec("area_density_per_nm2", "1/nm^2", 0.001, (0.0, INF), "particles per nm^2"),),
    "no correlations (ba.Dilute2D(area_density, particle))",
)
