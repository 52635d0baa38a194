"""Shapes given by their horizontal cross-sections, with BornAgain 25's names and parameters.

Each is a :class:`~deepgisas.physics.shape.Shape` with a ``section`` (the 2D Fourier transform
of the cross-section at height z above the bottom, real), so its form factor and its DWBA terms
are one z-quadrature (:func:`~deepgisas.physics.shape.section_kernel`). Angles are radians here
(degrees in the description file).

- hemisphere:         ba.SphericalSegment(R, 0, R)
- spherical_segment:  ba.SphericalSegment(R, top_cut, bottom_cut), a sphere of radius R with
                      layers of those heights removed; r(z)^2 = R^2 - (z + b - R)^2
- spheroidal_segment: ba.SpheroidalSegment(R, R_z, top_cut, bottom_cut);
                      r(z)^2 = R^2 (1 - (z + b - R_z)^2 / R_z^2)
- cone:               ba.Cone(R, H, alpha), base radius R, side at alpha to the base;
                      r(z) = R - z cot(alpha)
- pyramid4:           ba.Pyramid4(L, H, alpha), square base of edge L along x and y, faces at
                      alpha to the base; edge L(z) = L - 2 z cot(alpha)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from deepgisas.physics.params import ParamSpec
from deepgisas.physics.shape import Section, Shape, VolumeFn, angle, length, section_kernel
from deepgisas.physics.special import airy_amplitude, sinc
from deepgisas.units import DEG


def disc(qx: Tensor, qy: Tensor, r2: Tensor) -> Tensor:
    """The Fourier transform of a disc of squared radius r2 (clamped at 0), nm^2."""
    r2 = torch.clamp(r2, min=0.0)
    qp = torch.sqrt(qx * qx + qy * qy)
    return math.pi * r2 * airy_amplitude(qp * torch.sqrt(r2))


def _cot(alpha: Tensor) -> Tensor:
    return torch.cos(alpha) / torch.sin(alpha)


def _segment_height(p: dict[str, Tensor], rz: str) -> Tensor:
    return 2.0 * p[rz] - p["top_cut_nm"] - p["bottom_cut_nm"]


def _spherical_section(qx: Tensor, qy: Tensor, p: dict[str, Tensor], z: Tensor) -> Tensor:
    r = p["radius_nm"]
    u = z + p["bottom_cut_nm"] - r
    return disc(qx, qy, r * r - u * u)


def _spheroidal_section(qx: Tensor, qy: Tensor, p: dict[str, Tensor], z: Tensor) -> Tensor:
    r, rz = p["radius_nm"], p["radius_z_nm"]
    u = (z + p["bottom_cut_nm"] - rz) / rz
    return disc(qx, qy, r * r * (1.0 - u * u))


def _hemisphere_section(qx: Tensor, qy: Tensor, p: dict[str, Tensor], z: Tensor) -> Tensor:
    r = p["radius_nm"]
    return disc(qx, qy, r * r - z * z)


def _cone_section(qx: Tensor, qy: Tensor, p: dict[str, Tensor], z: Tensor) -> Tensor:
    r = p["radius_nm"] - z * _cot(p["alpha_deg"])
    return disc(qx, qy, r * r)


def _square_section(qx: Tensor, qy: Tensor, p: dict[str, Tensor], z: Tensor) -> Tensor:
    edge = torch.clamp(p["base_edge_nm"] - 2.0 * z * _cot(p["alpha_deg"]), min=0.0)
    return edge * edge * sinc(0.5 * qx * edge) * sinc(0.5 * qy * edge)


def _cap_volume(r2: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    """pi int_lo^hi (r2 - u^2) du."""
    return math.pi * (r2 * (hi - lo) - (hi**3 - lo**3) / 3.0)


def _spherical_volume(p: dict[str, Tensor]) -> Tensor:
    r = p["radius_nm"]
    return _cap_volume(r * r, p["bottom_cut_nm"] - r, r - p["top_cut_nm"])


def _spheroidal_volume(p: dict[str, Tensor]) -> Tensor:
    r, rz = p["radius_nm"], p["radius_z_nm"]
    return (r * r) / (rz * rz) * _cap_volume(rz * rz, p["bottom_cut_nm"] - rz,
                                             rz - p["top_cut_nm"])


def _frustum(base: Tensor, top: Tensor, h: Tensor) -> Tensor:
    """h (b^2 + b t + t^2) / 3: the volume of a frustum per unit base area factor."""
    return h * (base * base + base * top + top * top) / 3.0


def _cone_volume(p: dict[str, Tensor]) -> Tensor:
    r, h = p["radius_nm"], p["height_nm"]
    return math.pi * _frustum(r, r - h * _cot(p["alpha_deg"]), h)


def _pyramid_volume(p: dict[str, Tensor]) -> Tensor:
    edge, h = p["base_edge_nm"], p["height_nm"]
    return _frustum(edge, edge - 2.0 * h * _cot(p["alpha_deg"]), h)


def _cuts_problem(v: dict[str, float], rz: str) -> str | None:
    if v["top_cut_nm"] + v["bottom_cut_nm"] >= 2.0 * v[rz]:
        return f"top_cut_nm + bottom_cut_nm must be below 2 {rz} (nothing would be left)"
    return None


def _apex_problem(v: dict[str, float], base: str, factor: float) -> str | None:
    cot = math.cos(v["alpha_deg"] * DEG) / math.sin(v["alpha_deg"] * DEG)
    if v["height_nm"] * factor * cot > v[base] * (1.0 + 1e-12):
        return (f"height_nm must be at most {v[base] / (factor * cot):.6g} (the apex) for "
                f"{base} {v[base]:g} and alpha_deg {v['alpha_deg']:g}")
    return None


def _shape(name: str, params: tuple[ParamSpec, ...], section: Section, volume: VolumeFn,
           height: VolumeFn, radial: VolumeFn, description: str,
           bornagain: Callable[[Any, dict[str, float]], Any],
           check: Callable[[dict[str, float]], str | None] | None = None) -> Shape:
    return Shape(name, params, section_kernel(section, height), volume=volume, height=height,
                 radial=radial, description=description, bornagain=bornagain,
                 section=section, check=check)


def _spherical_height(p: dict[str, Tensor]) -> Tensor:
    return _segment_height(p, "radius_nm")


def _spheroidal_height(p: dict[str, Tensor]) -> Tensor:
    return _segment_height(p, "radius_z_nm")


SEGMENTS: dict[str, Shape] = {
    "hemisphere": _shape(
        "hemisphere", (length("radius_nm", 5.0, "radius of the flat base and height"),),
        _hemisphere_section, lambda p: 2.0 / 3.0 * math.pi * p["radius_nm"] ** 3,
        lambda p: p["radius_nm"], lambda p: p["radius_nm"],
        "hemisphere on its flat base (ba.SphericalSegment(R, 0, R))",
        lambda ba, v: ba.SphericalSegment(v["radius_nm"], 0.0, v["radius_nm"])),
    "spherical_segment": _shape(
        "spherical_segment",
        (length("radius_nm", 5.0, "radius of the sphere"),
         length("top_cut_nm", 0.0, "height removed from the top", lo_open=False),
         length("bottom_cut_nm", 0.0, "height removed from the bottom", lo_open=False)),
        _spherical_section, _spherical_volume, _spherical_height, lambda p: p["radius_nm"],
        "truncated sphere (ba.SphericalSegment(R, top_cut, bottom_cut))",
        lambda ba, v: ba.SphericalSegment(v["radius_nm"], v["top_cut_nm"], v["bottom_cut_nm"]),
        lambda v: _cuts_problem(v, "radius_nm")),
    "spheroidal_segment": _shape(
        "spheroidal_segment",
        (length("radius_nm", 5.0, "equatorial radius"),
         length("radius_z_nm", 5.0, "polar (vertical) radius"),
         length("top_cut_nm", 0.0, "height removed from the top", lo_open=False),
         length("bottom_cut_nm", 0.0, "height removed from the bottom", lo_open=False)),
        _spheroidal_section, _spheroidal_volume, _spheroidal_height, lambda p: p["radius_nm"],
        "truncated spheroid (ba.SpheroidalSegment(R, R_z, top_cut, bottom_cut))",
        lambda ba, v: ba.SpheroidalSegment(v["radius_nm"], v["radius_z_nm"], v["top_cut_nm"],
                                           v["bottom_cut_nm"]),
        lambda v: _cuts_problem(v, "radius_z_nm")),
    "cone": _shape(
        "cone",
        (length("radius_nm", 5.0, "base radius"), length("height_nm", 5.0, "height"),
         angle("alpha_deg", 60.0, "angle between the side and the base")),
        _cone_section, _cone_volume, lambda p: p["height_nm"], lambda p: p["radius_nm"],
        "truncated cone (ba.Cone(R, H, alpha))",
        lambda ba, v: ba.Cone(v["radius_nm"], v["height_nm"], v["alpha_deg"] * DEG),
        lambda v: _apex_problem(v, "radius_nm", 1.0)),
    "pyramid4": _shape(
        "pyramid4",
        (length("base_edge_nm", 10.0, "edge of the square base (along x and y)"),
         length("height_nm", 5.0, "height"),
         angle("alpha_deg", 60.0, "angle between the faces and the base")),
        _square_section, _pyramid_volume, lambda p: p["height_nm"],
        lambda p: 0.5 * p["base_edge_nm"],
        "truncated square pyramid (ba.Pyramid4(L, H, alpha))",
        lambda ba, v: ba.Pyramid4(v["base_edge_nm"], v["height_nm"], v["alpha_deg"] * DEG),
        lambda v: _apex_problem(v, "base_edge_nm", 2.0)),
}
