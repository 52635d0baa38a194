"""Form factors of particles, with BornAgain 25's origin convention (the particle's bottom).

Each shape declares its parameter table; the first parameter is the *size* that a size
distribution acts on, and the other lengths scale with it. Kernels take wave-vector transfer
components ``qx, qy`` (real, 1/nm) and ``qz`` (complex, 1/nm, complex inside absorbing layers)
and size tensors (nm) that broadcast against them; they return the complex amplitude in nm^3.

Formulas (BornAgain, ``Sample/HardParticle``):

- sphere:      V * 3 (sin x - x cos x)/x^3 * exp(i qz R),        x = |q| R
- spheroid:    V * 3 (sin u - u cos u)/u^3 * exp(i qz c),        u = sqrt(qp^2 R^2 + qz^2 c^2),
               c = height/2 (= ba.Spheroid(R, height/2))
- cylinder:    pi R^2 H * 2 J1(qp R)/(qp R) * sinc(qz H/2) * exp(i qz H/2)
- box:         L W H sinc(qx L/2) sinc(qy W/2) sinc(qz H/2) exp(i qz H/2)

These are of the form F = E(qx, qy, qz^2) exp(i qz c) with E even in qz and c a
height (R, c, H/2, H/2): ``Shape.center`` gives c, and ``Shape.even`` E (complex tensors;
cylinder, box), which lets the DWBA share one E between the terms whose qz differ only in sign
(see ``simulate``). The sphere and the spheroid are E = V f(x) with f the sphere amplitude and
x^2 = w linear in qp^2 and qz^2 (``Shape.sphere_arg`` gives w on real and imaginary parts): their
size-distribution members, scaled copies, share x up to a factor, so the DWBA evaluates them
all at once (:func:`deepgisas.physics.special.sphere_amplitude_ladder`).

Shapes given by their cross-sections (hemisphere, segments, cone, pyramid) are in
:mod:`deepgisas.physics.segments`; ``SHAPES`` holds both.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from deepgisas.physics.segments import SEGMENTS, disc
from deepgisas.physics.shape import Shape, length
from deepgisas.physics.special import (
    airy_amplitude,
    sinc,
    sinc_sq,
    sphere_amplitude,
)

__all__ = ["SHAPES", "Shape"]


def _sphere(qx: Tensor, qy: Tensor, qz: Tensor, p: dict[str, Tensor]) -> Tensor:
    r = p["radius_nm"]
    q = torch.sqrt(qx * qx + qy * qy + qz * qz)
    vol = 4.0 / 3.0 * math.pi * r**3
    return vol * sphere_amplitude(q * r) * torch.exp(1j * qz * r)


def _spheroid(qx: Tensor, qy: Tensor, qz: Tensor, p: dict[str, Tensor]) -> Tensor:
    r, c = p["radius_nm"], 0.5 * p["height_nm"]
    u = torch.sqrt((qx * qx + qy * qy) * r * r + qz * qz * c * c)
    vol = 4.0 / 3.0 * math.pi * r * r * c
    return vol * sphere_amplitude(u) * torch.exp(1j * qz * c)


def _sphere_arg(qp2: Tensor, qz2_re: Tensor, qz2_im: Tensor,
                p: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    r2 = p["radius_nm"] * p["radius_nm"]
    return (qp2 + qz2_re) * r2, qz2_im * r2


def _spheroid_arg(qp2: Tensor, qz2_re: Tensor, qz2_im: Tensor,
                  p: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    c = 0.5 * p["height_nm"]
    c2 = c * c
    return torch.addcmul(qp2 * (p["radius_nm"] * p["radius_nm"]), qz2_re, c2), qz2_im * c2


def _cylinder_even(qx: Tensor, qy: Tensor, qp2: Tensor, qz2: Tensor,
                   p: dict[str, Tensor]) -> Tensor:
    r, h = p["radius_nm"], p["height_nm"]
    lateral = math.pi * r * r * h * airy_amplitude(torch.sqrt(qp2) * r)
    return lateral * sinc_sq(qz2 * (0.25 * h * h))


def _box_even(qx: Tensor, qy: Tensor, qp2: Tensor, qz2: Tensor, p: dict[str, Tensor]) -> Tensor:
    length, width, h = p["length_nm"], p["width_nm"], p["height_nm"]
    lateral = length * width * h * sinc(0.5 * qx * length) * sinc(0.5 * qy * width)
    return lateral * sinc_sq(qz2 * (0.25 * h * h))


def _cylinder(qx: Tensor, qy: Tensor, qz: Tensor, p: dict[str, Tensor]) -> Tensor:
    r, h = p["radius_nm"], p["height_nm"]
    qp = torch.sqrt(qx * qx + qy * qy)
    half = 0.5 * qz * h
    return math.pi * r * r * h * airy_amplitude(qp * r) * sinc(half) * torch.exp(1j * half)


def _box(qx: Tensor, qy: Tensor, qz: Tensor, p: dict[str, Tensor]) -> Tensor:
    length, width, h = p["length_nm"], p["width_nm"], p["height_nm"]
    half = 0.5 * qz * h
    lateral = sinc(0.5 * qx * length) * sinc(0.5 * qy * width)
    return length * width * h * lateral * sinc(half) * torch.exp(1j * half)


def _sphere_section(qx: Tensor, qy: Tensor, p: dict[str, Tensor], z: Tensor) -> Tensor:
    r = p["radius_nm"]
    return disc(qx, qy, r * r - (z - r) ** 2)


def _spheroid_section(qx: Tensor, qy: Tensor, p: dict[str, Tensor], z: Tensor) -> Tensor:
    r, c = p["radius_nm"], 0.5 * p["height_nm"]
    u = (z - c) / c
    return disc(qx, qy, r * r * (1.0 - u * u))


def _cylinder_section(qx: Tensor, qy: Tensor, p: dict[str, Tensor], z: Tensor) -> Tensor:
    r = p["radius_nm"]
    return disc(qx, qy, r * r + 0.0 * z)


def _box_section(qx: Tensor, qy: Tensor, p: dict[str, Tensor], z: Tensor) -> Tensor:
    length, width = p["length_nm"], p["width_nm"]
    return length * width * sinc(0.5 * qx * length) * sinc(0.5 * qy * width) + 0.0 * z


SHAPES: dict[str, Shape] = {
    "sphere": Shape(
        "sphere",
        (length("radius_nm", 10.0, "sphere radius"),),
        _sphere,
        volume=lambda p: 4.0 / 3.0 * math.pi * p["radius_nm"] ** 3,
        height=lambda p: 2.0 * p["radius_nm"],
        radial=lambda p: p["radius_nm"],
        description="full sphere (ba.Sphere(R))",
        bornagain=lambda ba, v: ba.Sphere(v["radius_nm"]),
        center=lambda p: p["radius_nm"],
        sphere_arg=_sphere_arg,
        section=_sphere_section,
    ),
    "spheroid": Shape(
        "spheroid",
        (
            length("radius_nm", 5.0, "equatorial radius"),
            length("height_nm", 5.0, "full height along z (twice the polar radius)"),
        ),
        _spheroid,
        volume=lambda p: 2.0 / 3.0 * math.pi * p["radius_nm"] ** 2 * p["height_nm"],
        height=lambda p: p["height_nm"],
        radial=lambda p: p["radius_nm"],
        description="spheroid (ba.Spheroid(R, height/2))",
        bornagain=lambda ba, v: ba.Spheroid(v["radius_nm"], v["height_nm"] / 2.0),
        center=lambda p: 0.5 * p["height_nm"],
        sphere_arg=_spheroid_arg,
        section=_spheroid_section,
    ),
    "cylinder": Shape(
        "cylinder",
        (
            length("radius_nm", 5.0, "base radius"),
            length("height_nm", 5.0, "height"),
        ),
        _cylinder,
        volume=lambda p: math.pi * p["radius_nm"] ** 2 * p["height_nm"],
        height=lambda p: p["height_nm"],
        radial=lambda p: p["radius_nm"],
        description="vertical circular cylinder (ba.Cylinder(R, H))",
        bornagain=lambda ba, v: ba.Cylinder(v["radius_nm"], v["height_nm"]),
        even=_cylinder_even,
        center=lambda p: 0.5 * p["height_nm"],
        section=_cylinder_section,
    ),
    "box": Shape(
        "box",
        (
            length("length_nm", 10.0, "edge along x (the beam)"),
            length("width_nm", 10.0, "edge along y"),
            length("height_nm", 5.0, "edge along z"),
        ),
        _box,
        volume=lambda p: p["length_nm"] * p["width_nm"] * p["height_nm"],
        height=lambda p: p["height_nm"],
        radial=lambda p: 0.5 * p["length_nm"],
        description="rectangular box (ba.Box(L, W, H))",
        bornagain=lambda ba, v: ba.Box(v["length_nm"], v["width_nm"], v["height_nm"]),
        even=_box_even,
        center=lambda p: 0.5 * p["height_nm"],
        section=_box_section,
    ),
    **SEGMENTS,
}
