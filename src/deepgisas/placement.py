"""Where particles sit: the layers their height range overlaps, and the slack of their layer
above and below them (heights in nm from the ambient's bottom interface, up)."""

from __future__ import annotations

import math

from deepgisas.physics.formfactors import SHAPES
from deepgisas.sample import Experiment, SizeDistribution


def largest_member(sd: SizeDistribution | None) -> float:
    """The largest size member over the description's size: the upper end of BornAgain's
    lognormal samples (their midpoint for one sample)."""
    if sd is None or sd.sigma <= 0:
        return 1.0
    lo, hi = math.exp(-sd.width * sd.sigma), math.exp(sd.width * sd.sigma)
    return (lo + hi) / 2.0 if sd.samples == 1 else hi


def overlapped_layers(e: Experiment, tol: float = 1e-9) -> tuple[tuple[int, bool, bool], ...]:
    """The layers that the particles' height range overlaps (all size members), top to bottom,
    each with whether some of the layer is left above and below the particles (more than
    ``tol`` nm; always for the ambient's top and the substrate's bottom). Heights in nm from the
    ambient's bottom interface, up."""
    pt = e.sample.particles
    assert pt is not None
    layers = e.sample.layers
    height = float(SHAPES[pt.shape.kind].height(dict(pt.shape.values)))  # type: ignore[arg-type]
    large = largest_member(pt.size_distribution)
    tops = [math.inf, 0.0]
    for layer in layers[1:-1]:
        tops.append(tops[-1] - float(layer.thickness_nm or 0.0))
    bottoms = tops[1:] + [-math.inf]
    z = float(pt.z_nm)
    if pt.placement == "deposit":
        lowest = bottoms[pt.layer] + z
        highest = lowest + height * large
    else:
        highest = tops[pt.layer] + z
        lowest = highest - height * large
    out = []
    for i, (top, bottom) in enumerate(zip(tops, bottoms, strict=True)):
        if min(top, highest) - max(bottom, lowest) > tol:
            out.append((i, i == 0 or top - highest > tol,
                        i == len(layers) - 1 or lowest - bottom > tol))
    return tuple(out)


def particle_slack(e: Experiment) -> tuple[float, float]:
    """Thickness (nm) of the particles' layer above and below the particles' slice (the largest
    size member's); negative when they stick out of the layer."""
    pt = e.sample.particles
    assert pt is not None
    height = float(SHAPES[pt.shape.kind].height(dict(pt.shape.values)))  # type: ignore[arg-type]
    height *= largest_member(pt.size_distribution)
    z = pt.z_nm
    layer = e.sample.layers[pt.layer]
    thick = layer.thickness_nm if layer.thickness_nm is not None else math.inf
    if pt.placement == "deposit":
        return thick - z - height, z
    return -z, thick + z - height
