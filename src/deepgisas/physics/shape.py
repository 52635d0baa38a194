"""What a particle shape provides (:class:`Shape`), and the z-quadrature that serves every
shape given by its horizontal cross-sections.

A shape's origin is its bottom (BornAgain 25's convention). Its table's first parameter is the
*size* that a size distribution acts on; its other lengths (unit ``nm``) scale with it, angles
(unit ``rad`` inside, ``deg`` in the description file) do not, so the members are similar
shapes.

Shapes given by cross-sections (``Shape.section``): the form factor is
``F(q) = int_0^H S(q_par, z) exp(i qz z) dz`` with ``S`` the 2D Fourier transform of the
cross-section at height ``z`` (real for the centrosymmetric sections used here), evaluated by
Gauss-Legendre quadrature with :data:`NODES` nodes. In the DWBA the four terms then share one
integral: ``sum_n w_n S_n (T_in e^{-i kzi z_n} + R_in e^{i kzi z_n})(T_out e^{-i kzo z_n} +
R_out e^{i kzo z_n})`` (:mod:`deepgisas.physics.simulate`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import Tensor

from deepgisas.physics.params import INF, ParamSpec

Kernel = Callable[[Tensor, Tensor, Tensor, dict[str, Tensor]], Tensor]
EvenKernel = Callable[[Tensor, Tensor, Tensor, Tensor, dict[str, Tensor]], Tensor]
PairKernel = Callable[[Tensor, Tensor, Tensor, dict[str, Tensor]], tuple[Tensor, Tensor]]
VolumeFn = Callable[[dict[str, Tensor]], Tensor]
Section = Callable[[Tensor, Tensor, dict[str, Tensor], Tensor], Tensor]
"""(qx, qy, sizes, z) -> the real 2D Fourier transform of the cross-section at height z (nm,
from the bottom) in nm^2; sizes and z broadcast against qx."""

NODES = 64  # Gauss-Legendre nodes of the z-quadrature


@dataclass(frozen=True)
class Shape:
    """A particle shape: its parameter table, its kernel, its volume, its height, its radial
    extension (BornAgain's ``radialExtension``, for the paracrystal's size-spacing coupling)
    and its BornAgain 25 form factor (``bornagain(ba, values)``, values in the description's
    units).

    Optional fast paths: ``even`` and ``center`` for F = E(qx, qy, qz^2) exp(i qz c);
    ``sphere_arg`` for E = V f(x), x^2 = w(qp^2, qz^2). ``section``, the cross-sections, serves
    the parts of a particle that crosses interfaces, and the shapes that have no closed form
    (their ``kernel`` is then the z-quadrature, :func:`section_kernel`).
    """

    name: str
    params: tuple[ParamSpec, ...]
    kernel: Kernel
    volume: VolumeFn
    height: VolumeFn
    radial: VolumeFn
    description: str
    bornagain: Callable[[Any, dict[str, float]], Any]
    even: EvenKernel | None = None
    center: VolumeFn | None = None
    sphere_arg: PairKernel | None = None  # E = V f(x), x^2 = w(qp^2, qz^2): (Re w, Im w)
    section: Section | None = None
    check: Callable[[dict[str, float]], str | None] | None = None  # a problem with the values

    @property
    def size_param(self) -> str:
        """The parameter a size distribution acts on (the first one)."""
        return self.params[0].name

    @property
    def lengths(self) -> tuple[str, ...]:
        """The parameters that scale with the size (unit nm)."""
        return tuple(p.name for p in self.params if p.unit == "nm")

    @property
    def angles(self) -> tuple[str, ...]:
        """The parameters given in degrees in the description file (radians inside)."""
        return tuple(p.name for p in self.params if p.unit == "deg")

    def problem(self, values: dict[str, float]) -> str | None:
        """What is wrong with a concrete set of values (description units), or None."""
        return None if self.check is None else self.check(values)


def length(name: str, default: float, description: str, lo_open: bool = True) -> ParamSpec:
    """A length parameter (nm), positive (or non-negative with ``lo_open=False``)."""
    return ParamSpec(name, "nm", default, (0.0, INF), description, lo_open=lo_open)


def angle(name: str, default: float, description: str) -> ParamSpec:
    """An angle parameter in (0, 90] degrees (radians inside)."""
    return ParamSpec(name, "deg", default, (0.0, 90.0), description, hi_open=False)


@lru_cache(maxsize=8)
def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]."""
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1.0) / 2.0, w / 2.0


def quadrature(like: Tensor, n: int = NODES) -> tuple[Tensor, Tensor]:
    """``n`` Gauss-Legendre nodes and weights on [0, 1] with the dtype and device of ``like``."""
    t, w = gauss_legendre(n)
    return (torch.as_tensor(t, dtype=like.dtype, device=like.device),
            torch.as_tensor(w, dtype=like.dtype, device=like.device))


def nodes_for(phase: float) -> int:
    """Gauss-Legendre nodes that integrate a section's transform times exp(i qz z) to about
    1e-13 when the phase qz H and the lateral argument q_par L (L the largest length) reach at
    most ``phase`` radians over the part: phase / 2 + 10, in steps of 8, from 16 to
    :data:`NODES` (measured on a sphere's parts, 2e-14 at 35 rad with 32 nodes)."""
    return int(min(NODES, max(16, 8 * math.ceil((phase / 2.0 + 10.0) / 8.0))))


def section_kernel(section: Section, height: VolumeFn) -> Kernel:
    """The form factor of a shape given by its cross-sections: the z-quadrature of
    ``section(qx, qy, p, z) exp(i qz z)`` over [0, height(p)]."""

    def kernel(qx: Tensor, qy: Tensor, qz: Tensor, p: dict[str, Tensor]) -> Tensor:
        t, w = quadrature(qx)
        h = height(p)
        amp = torch.zeros((), dtype=qz.dtype, device=qz.device)
        for tn, wn in zip(t, w, strict=True):
            z = h * tn
            amp = amp + (wn * h) * section(qx, qy, p, z) * torch.exp(1j * qz * z)
        return amp

    return kernel
