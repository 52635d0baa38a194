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
    z-quadrature of the cross-sections' areas."""
    assert spec.section is not None
    t, w = quadrature(lo)
    zero = torch.zeros((), dtype=lo.dtype, device=lo.device)
    out = torch.zeros_like(lo)
    for tn, wn in zip(t, w, strict=True):
        out = out + wn * spec.section(zero, zero, sizes, lo + tn * (hi - lo))
    return out * (hi - lo)


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
    top_j, bottom_j = _layer_bounds(d, particle_layer, n_layers)
    z = p["particle_z"]
    if placement == "deposit":
        base = torch.zeros_like(z) if particle_layer == 0 else bottom_j
        zb = (base + z)[:, None].expand_as(heights)
    else:
        zb = (top_j + z)[:, None] - heights
    zt = zb + heights
    lowest, highest = zb.min(-1).values, zt.max(-1).values
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
            # the slice of the parts; of zero height at the layer's bottom (top) when no member
            # reaches down (up) into it (a structure spanning several experiments' layers)
            s_top = torch.maximum(torch.minimum(top, highest), bottom)
            s_bottom = torch.minimum(torch.maximum(bottom, lowest), s_top)
            lo = torch.clamp(s_bottom[:, None] - zb, min=0.0)
            hi = torch.maximum(torch.minimum(s_top[:, None], zt) - zb, lo)
            lo = torch.minimum(lo, hi)
            chi_l = p["chi"][:, L]
            chi_s = chi_l
            if use_average_materials:
                volume = (wts * part_volumes(spec, sizes, lo, hi)).sum(-1)
                h = s_top - s_bottom
                share = torch.where(h > 0, volume / torch.where(h > 0, h, torch.ones_like(h)),
                                    torch.zeros_like(h))
                chi_s = chi_l + density * share * (chi_particle - chi_l)
            slices = []
            if keep_above:
                slices.append((chi_l, zero if L == 0 else top - s_top))
            parts.append(Part(len(columns["chi"]) + len(slices), L,
                              zb - s_top[:, None], lo, hi))
            slices.append((chi_s, s_top - s_bottom))
            if keep_below:
                slices.append((chi_l, zero if L == n_layers - 1 else s_bottom - bottom))
            n_rough = len(slices) if use_average_materials and L > 0 else 1
            rough_all = [rough] * n_rough + [(zero, one, one)] * (len(slices) - n_rough)
        for (chi, thick), (sig, hur, cor) in zip(slices, rough_all, strict=True):
            columns["chi"].append(chi)
            columns["thickness"].append(thick)
            columns["sigma"].append(sig)
            columns["hurst"].append(hur)
            columns["corr_length"].append(cor)
    return {n: torch.stack(v, -1) for n, v in columns.items()}, parts
