"""What an interference (structure) type provides: :class:`StructureType`.

A type declares its parameter table once. Its tensors are named after the table
(``interference.<name>``, :func:`key`); compile, the simulator, the fit, the docs and the
BornAgain reference read the type and nothing else, so a new type is one module of this package
(registered in ``STRUCTURES``) plus its tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from deepgisas.physics.cmath import abs2
from deepgisas.physics.params import ParamSpec

PREFIX = "interference."


def key(name: str) -> str:
    """The tensor key of an interference parameter: its table name under ``interference.``."""
    return PREFIX + name


@dataclass(frozen=True)
class Amplitudes:
    """What an interference kernel sees of one block of pixels.

    ``amp`` holds the DWBA amplitude of each size member without the contrast factor,
    [B, M, h, W] complex; ``weights`` the members' weights [B, M]; ``radial`` their radial
    extensions (nm) [B, M] (BornAgain's ``radialExtension``, for the size-spacing coupling).
    ``sums``, when given instead of ``amp`` (None), are the size averages already taken
    (:func:`deepgisas.physics.dwba.dwba_sums`): <|F|^2> [B, h, W] and <F> [B, h, W] complex;
    a kernel that needs the members (:meth:`StructureType.needs_members`) gets ``amp``.
    """

    qx: Tensor  # [B, h, W] 1/nm
    qy: Tensor
    amp: Tensor | None
    weights: Tensor
    radial: Tensor
    sums: tuple[Tensor, Tensor] | None = None

    @property
    def w4(self) -> Tensor:
        """The weights broadcast against ``amp``, [B, M, 1, 1]."""
        return self.weights[:, :, None, None]

    @property
    def members(self) -> Tensor:
        """The members' amplitudes [B, M, h, W] (an error when only their ``sums`` are here)."""
        if self.amp is None:
            raise ValueError("this kernel needs the size members' amplitudes, not their sums")
        return self.amp

    def mean_abs2(self) -> Tensor:
        """<|F|^2> over the size members, [B, h, W] (the diffuse part)."""
        if self.sums is not None:
            return self.sums[0]
        return (self.w4 * abs2(self.members)).sum(1)

    def mean(self) -> Tensor:
        """<F> over the size members, [B, h, W] complex."""
        if self.sums is not None:
            return self.sums[1]
        return (self.w4 * self.members).sum(1)

    def abs2_mean(self) -> Tensor:
        """|<F>|^2 over the size members, [B, h, W] (the coherent part)."""
        return abs2(self.mean())


Particle = Callable[[], Any]  # makes one BornAgain particle (or mixture) per call
Domains = list[tuple[float | None, Any]]  # (coverage weight or None, BornAgain layout)


@dataclass(frozen=True)
class StructureType:
    """An interference type: its table, density, kernel and BornAgain 25 counterpart.

    Subclasses implement :meth:`density`, :meth:`intensity` and :meth:`bornagain`; a type with
    ``has_orientation`` also takes the description's ``orientation`` (domain rotations xi and
    their weights, the tensors ``xi`` [B, K] in rad and ``coverage`` [B, K]).
    """

    name: str
    params: tuple[ParamSpec, ...]
    description: str
    has_orientation: bool = False
    isotropic: bool = True  # S depends on |q_par| only: patterns are mirror-symmetric in phi
    inert: tuple[str, ...] = ()  # parameters BornAgain 25 takes and ignores: no tensor
    spacing: str | None = None  # the distance whose multiples put peaks on one another's
    # orders (a fit tries them: deepgisas.fit.gradient)

    def columns(self, values: dict[str, float], xi_rad: Sequence[float] = (),
                weights: Sequence[float] = ()) -> dict[str, Any]:
        """One experiment's entries of the simulator tensors (before batching)."""
        out: dict[str, Any] = {key(p.name): float(values[p.name]) for p in self.params
                               if p.name not in self.inert}
        if self.has_orientation:
            out.update(xi=list(xi_rad), coverage=list(weights))
        return out

    def density(self, p: dict[str, Tensor]) -> Tensor:
        """Particles per nm^2 of one domain (before coverage), [B]."""
        raise NotImplementedError

    def coverage(self, p: dict[str, Tensor]) -> Tensor | float:
        """The summed domain coverage, [B] (1 without domains)."""
        return p["coverage"].sum(-1) if self.has_orientation else 1.0

    def prepare(self, p: dict[str, Tensor]) -> Any:
        """Work shared by all pixel blocks of a batch (e.g. tables), or None."""
        return None

    def needs_members(self, p: dict[str, Tensor]) -> bool:
        """Whether :meth:`intensity` needs each size member's amplitude (``Amplitudes.amp``),
        not only their averages (``Amplitudes.sums``)."""
        return False

    def intensity(self, p: dict[str, Tensor], prepared: Any, a: Amplitudes) -> Tensor:
        """The interference strategy over the amplitudes, [B, h, W]: the intensity per particle
        before rho |contrast|^2."""
        raise NotImplementedError

    def bornagain(self, ba: Any, particle: Particle, values: dict[str, float],
                  xi_rad: Sequence[float] = (), weights: Sequence[float] = ()) -> Domains:
        """The BornAgain 25 layouts of this structure, each with its coverage weight (None:
        the layer's only layout)."""
        raise NotImplementedError
