"""Particles across layer interfaces, as BornAgain 25 slices them.

A particle whose height range overlaps several layers is cut at the interfaces: each part lies
in its own layer, in a slice of that layer that spans the parts of all size members there (the
rest of the layer above and below are slices of the layer's own material). A part scatters with
that slice's waves and with the contrast against that layer's (un-averaged) material; the
parts' amplitudes add up to the particle's, which the interference type then sees. With average
materials on, each part's slice has n^2 = n_layer^2 + f (n_p^2 - n_layer^2) with
f = coverage * rho * <V_part> / H_slice, and every slice of a layer below the ambient carries
the layer's top roughness (:func:`deepgisas.physics.simulate._sliced_stack` does the same for
one layer).

Coordinates: z is up, 0 at the ambient's bottom interface; layer L (0 < L < last) spans
[top_L - d_L, top_L] with top_L = -(d_1 + ... + d_{L-1}).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from deepgisas.physics.formfactors import Shape
from deepgisas.physics.shape import quadrature

# Gauss-Legendre nodes of the parts' volumes: the sections' areas are polynomials in z of
# degree 2 at most for the built-in shapes (discs of radius linear or quadratic under a root,
# rectangles of linear sides), which 8 nodes integrate exactly (to degree 15)
VOLUME_NODES = 8


@dataclass(frozen=True)
class Part:
    """The part of the particles in one layer: its slice in the sliced stack, its layer, the
    members' bottoms in the slice's frame (top at 0) and their z-range above their own bottom
    in that layer, [B, M] nm each."""

    slice: int
    layer: int
    z0: Tensor
    lo: Tensor
    hi: Tensor


def _layer_bounds(thickness: Tensor, layer: int, n_layers: int) -> tuple[Tensor, Tensor]:
    """(top, bottom) of a layer, [B] nm (+-inf for the ambient's top, the substrate's bottom)."""
    cum = torch.cumsum(thickness, -1)
    top = -(cum[:, layer] - thickness[:, layer])
    bottom = -cum[:, layer]
    if layer == 0:
        top = torch.full_like(top, math.inf)
    if layer == n_layers - 1:
        bottom = torch.full_like(bottom, -math.inf)
    return top, bottom


def part_volumes(spec: Shape, sizes: dict[str, Tensor], lo: Tensor, hi: Tensor) -> Tensor:
    """Volumes of the members between heights lo and hi above their bottoms, [B, M] nm^3: the
    z-quadrature of the cross-sections' areas. A shape without cross-sections (a registered
    one may have none) has only whole parts (its volume) and empty ones (0); a cut one is a
    ValueError."""
    if spec.section is None:
        span, height = hi - lo, spec.height(sizes)
        whole = span >= height * (1.0 - 1e-12)
        if bool(((span > 0) & ~whole).any()):
            raise ValueError(f"the shape {spec.name!r} has no cross-sections: it cannot be cut "
                             "at an interface")
        return torch.where(whole, spec.volume(sizes), torch.zeros_like(span))
    t, w = quadrature(lo, VOLUME_NODES)
    zero = torch.zeros((), dtype=lo.dtype, device=lo.device)
    # every node at once, in a trailing axis: one call of the section, not one per node
    at_nodes = {name: v[..., None] for name, v in sizes.items()}
    z = lo[..., None] + t * (hi - lo)[..., None]
    return (spec.section(zero, zero, at_nodes, z) * w).sum(-1) * (hi - lo)


@dataclass(frozen=True)
class Cut:
    """The particles' slice in one layer: its top and bottom [B] and each member's z-range
    above its own bottom within it, [B, M] (nm; zero height where no member reaches)."""

    top: Tensor
    bottom: Tensor
    lo: Tensor
    hi: Tensor

    @property
    def height(self) -> Tensor:
        return self.top - self.bottom


def member_bottoms(thickness: Tensor, n_layers: int, placement: str, particle_layer: int,
                   z: Tensor, heights: Tensor) -> Tensor:
    """The members' bottoms [B, M] (nm, up from the ambient's bottom interface): on the layer's
    bottom interface plus z (deposit), or their tops at its top interface plus z (suspend)."""
    top_j, bottom_j = _layer_bounds(thickness, particle_layer, n_layers)
    if placement == "deposit":
        base = torch.zeros_like(z) if particle_layer == 0 else bottom_j
        return (base + z)[:, None].expand_as(heights)
    return (top_j + z)[:, None] - heights


def cut(thickness: Tensor, layer: int, n_layers: int, bottoms: Tensor,
        heights: Tensor) -> Cut:
    """The particles' slice in ``layer`` (members' bottoms and heights [B, M])."""
    top, bottom = _layer_bounds(thickness, layer, n_layers)
    zt = bottoms + heights
    lowest, highest = bottoms.min(-1).values, zt.max(-1).values
    # of zero height at the layer's bottom (top) when no member reaches down (up) into it
    s_top = torch.maximum(torch.minimum(top, highest), bottom)
    s_bottom = torch.minimum(torch.maximum(bottom, lowest), s_top)
    lo = torch.clamp(s_bottom[:, None] - bottoms, min=0.0)
    hi = torch.maximum(torch.minimum(s_top[:, None], zt) - bottoms, lo)
    return Cut(s_top, s_bottom, torch.minimum(lo, hi), hi)


def fill_fraction(spec: Shape, sizes: dict[str, Tensor], wts: Tensor, density: Tensor,
                  c: Cut) -> Tensor:
    """The particles' volume fraction of their slice ``c``, [B]: density x the members'
    weighted volume in it / its height (0 for an empty slice)."""
    volume = (wts * part_volumes(spec, sizes, c.lo, c.hi)).sum(-1)
    h = c.height
    return torch.where(h > 0, density * volume / torch.where(h > 0, h, torch.ones_like(h)),
                       torch.zeros_like(h))


def empty_as(chi_slice: Tensor, chi_layer: Tensor, thickness: Tensor) -> tuple[Tensor, Tensor]:
    """A layer's rest above or below the particles' slice, (chi, thickness) [B]: of the layer's
    material, or of the slice's where it is empty (thickness 0). A structure that spans several
    experiments keeps rests that some of them do not have; given the slice's material, an
    empty rest adds an interface without contrast, which neither reflects nor scatters (its
    roughness included), so the stack is BornAgain's, which has no such slice."""
    return torch.where(thickness == 0, chi_slice, chi_layer), thickness


def crossing_stack(layers: tuple[tuple[int, bool, bool], ...], n_layers: int, placement: str,
                   particle_layer: int, use_average_materials: bool, p: dict[str, Tensor],
                   spec: Shape, sizes: dict[str, Tensor], wts: Tensor, density: Tensor,
                   chi_particle: Tensor) -> tuple[dict[str, Tensor], list[Part]]:
    """The stack sliced at the particles' parts, and the parts.

    ``layers``: the layers the particles overlap, top to bottom, each with whether some of the
    layer is left above and below the particles' slice (static). ``density``: coverage x
    particles per nm^2, [B]. Returns the sliced stack (chi, thickness, sigma, hurst,
    corr_length: [B, S]) and one :class:`Part` per overlapped layer."""
    d = p["thickness"]
    heights = spec.height(sizes)  # [B, M]
    z = p["particle_z"]
    zb = member_bottoms(d, n_layers, placement, particle_layer, z, heights)
    zero, one = torch.zeros_like(z), torch.ones_like(z)
    by_layer = {L: (above, below) for L, above, below in layers}
    columns: dict[str, list[Tensor]] = {n: [] for n in ("chi", "thickness", "sigma", "hurst",
                                                         "corr_length")}
    parts: list[Part] = []
    for L in range(n_layers):
        rough = (p["sigma"][:, L], p["hurst"][:, L], p["corr_length"][:, L])
        own = (p["chi"][:, L], d[:, L])
        if L not in by_layer:
            slices = [own]
            rough_all = [rough]
        else:
            keep_above, keep_below = by_layer[L]
            top, bottom = _layer_bounds(d, L, n_layers)
            c = cut(d, L, n_layers, zb, heights)
            s_top, s_bottom, lo, hi = c.top, c.bottom, c.lo, c.hi
            chi_l = p["chi"][:, L]
            chi_s = chi_l
            if use_average_materials:
                chi_s = chi_l + fill_fraction(spec, sizes, wts, density, c) * (chi_particle
                                                                             - chi_l)
            slices = []
            if keep_above:
                slices.append((chi_l, zero) if L == 0 else empty_as(chi_s, chi_l, top - s_top))
            parts.append(Part(len(columns["chi"]) + len(slices), L,
                              zb - s_top[:, None], lo, hi))
            slices.append((chi_s, s_top - s_bottom))
            if keep_below:
                slices.append((chi_l, zero) if L == n_layers - 1 else
                              empty_as(chi_s, chi_l, s_bottom - bottom))
            n_rough = len(slices) if use_average_materials and L > 0 else 1
            rough_all = [rough] * n_rough + [(zero, one, one)] * (len(slices) - n_rough)
        for (chi, thick), (sig, hur, cor) in zip(slices, rough_all, strict=True):
            columns["chi"].append(chi)
            columns["thickness"].append(thick)
            columns["sigma"].append(sig)
            columns["hurst"].append(hur)
            columns["corr_length"].append(cor)
    return {n: torch.stack(v, -1) for n, v in columns.items()}, parts
