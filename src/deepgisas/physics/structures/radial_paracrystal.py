"""Radial paracrystal (ba.RadialParacrystal): a 1D paracrystal of nearest-neighbour distances.

f(q) = exp(i q D) exp(-q^2 omega^2 / 2) exp(-D / lambda) with a Gaussian distance distribution
of width omega and damping length lambda; S = Re[(1 + f) / (1 - f)] in the decoupling
approximation (kappa = 0), and BornAgain's size-spacing coupling approximation otherwise. The
density BornAgain 25 assigns is 2 / (sqrt(3) D^2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from deepgisas.physics.params import INF, ParamSpec
from deepgisas.physics.structures.base import Amplitudes, Domains, Particle, StructureType, key

SQRT3 = math.sqrt(3.0)
DISTANCE, DAMPING, OMEGA, KAPPA = (key(n) for n in (
    "distance_nm", "damping_length_nm", "omega_nm", "kappa"))


def phase(qp: Tensor, distance: Tensor, damping: Tensor, omega: Tensor) -> Tensor:
    """f(q) = exp(i q D) exp(-q^2 omega^2 / 2) exp(-D / lambda) (lambda = 0: no damping)."""
    return torch.exp(1j * qp * distance) * envelope(qp, omega) * damping_factor(distance, damping)


def envelope(qp: Tensor, omega: Tensor) -> Tensor:
    """|f| without damping: exp(-q^2 omega^2 / 2), its exponent floored at -80 (float32's exp
    is about ten times slower where its result underflows; e^-80 is 2e-35)."""
    return torch.exp((-0.5 * (qp * omega) ** 2).clamp_min(-80.0))


def damping_factor(distance: Tensor, damping: Tensor) -> Tensor:
    """exp(-D / lambda), 1 where lambda = 0 (no damping)."""
    on = damping > 0
    return torch.where(on, torch.exp(-distance / torch.where(on, damping,
                                                             torch.ones_like(damping))),
                       torch.ones_like(damping))


def density(distance: Tensor) -> Tensor:
    """Particle density (1/nm^2) BornAgain 25 assigns to a radial paracrystal: 2/(sqrt3 D^2)."""
    return 2.0 / (SQRT3 * distance * distance)


class RadialParacrystal(StructureType):
    """The radial paracrystal's kernel over the size members' amplitudes."""

    def density(self, p: dict[str, Tensor]) -> Tensor:
        return density(p[DISTANCE])

    def needs_members(self, p: dict[str, Tensor]) -> bool:
        """The size-spacing coupling (kappa > 0) phases every member apart."""
        kap = p[KAPPA]
        return kap.requires_grad or bool(kap.any())

    def intensity(self, p: dict[str, Tensor], prepared: Any, a: Amplitudes) -> Tensor:
        qp = torch.sqrt(a.qx * a.qx + a.qy * a.qy)
        distance = p[DISTANCE][:, None, None]
        if not self.needs_members(p):
            # kappa = 0 in real arithmetic: f = g e^{i q D}, Re f / (1 - W f) =
            # (g cos - W g^2) / (1 - 2 W g cos + W^2 g^2), W = sum of the size weights (= 1)
            g = envelope(qp, p[OMEGA][:, None, None]) * \
                damping_factor(p[DISTANCE], p[DAMPING])[:, None, None]
            gc = g * torch.cos(qp * distance)
            sw = a.weights.sum(-1)[:, None, None]
            ratio = (gc - sw * g * g) / (1.0 - 2.0 * sw * gc + (sw * g) ** 2)
            return a.mean_abs2() + 2.0 * a.abs2_mean() * ratio
        w4, amp, kap = a.w4, a.members, p[KAPPA][:, None, None, None]
        f = phase(qp, distance, p[DAMPING][:, None, None], p[OMEGA][:, None, None])
        rdev = (a.radial - (a.weights * a.radial).sum(-1, keepdim=True))[:, :, None, None]
        ph = torch.exp(1j * kap * qp[:, None] * rdev)
        ph2 = torch.exp(2j * kap * qp[:, None] * rdev)
        m = (w4 * ph * amp).sum(1) * (w4 * ph * amp.conj()).sum(1)
        denom = 1.0 - (w4 * ph2).sum(1) * f
        return a.mean_abs2() + 2.0 * (m * f / denom).real

    def bornagain(self, ba: Any, particle: Particle, values: dict[str, float],
                  xi_rad: Sequence[float] = (), weights: Sequence[float] = ()) -> Domains:
        s = ba.RadialParacrystal(particle(), values["distance_nm"], values["damping_length_nm"])
        s.setProbabilityDistribution(ba.Profile1DGauss(values["omega_nm"]))
        s.setKappa(values["kappa"])
        if values["domain_size_nm"] > 0:
            s.setDomainSize(values["domain_size_nm"])
        return [(None, s)]


RADIAL_PARACRYSTAL = RadialParacrystal(
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
    "distribution (ba.Profile1DGauss(omega)), kappa and domain size (BornAgain 25's "
    "result does not depend on the domain size, nor does ours)",
    inert=("domain_size_nm",),
    spacing="distance_nm",
)
