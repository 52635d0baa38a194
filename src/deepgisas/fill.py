"""How full the particles' slice is, and BornAgain 25's rule that refuses an overfilled one.

With average materials on, BornAgain gives the particles' height range a slice of its own whose
material mixes the layer's with the particles' in proportion to their volumes
(``MixUtil::basePlusAdmixtures``), and it refuses a slice whose particles take more than its
whole volume ("Volume of sample components exceeds base volume"). The particles' volume fraction
is the one the simulator averages with (:mod:`deepgisas.physics.simulate`):

    f = coverage * rho * <V> / H

rho the particles per nm^2 of the interference type (a radial paracrystal's 2 / (sqrt 3 D^2),
a hexagonal lattice's 1 / cell area, a dilute layout's area density), coverage the summed
weights of a lattice's domains (1 otherwise), <V> the volume averaged over the size
distribution's members with their weights, and H the slice's height: the tallest member's.
Particles that cross interfaces have a slice in each layer they reach, with the volume of their
part there (:mod:`deepgisas.physics.crossing`); the fullest slice decides.
BornAgain 25 refuses exactly when f > 1 (measured at f = 1 +- 1e-13 for every interference type,
with and without size distributions and domain weights: tests/test_fill.py). With average
materials off BornAgain builds no mixed slice and accepts any f; so does :func:`overfill`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from deepgisas.errors import UserError
from deepgisas.physics.crossing import cut, fill_fraction, member_bottoms
from deepgisas.physics.formfactors import SHAPES
from deepgisas.physics.simulate import size_samples
from deepgisas.physics.structures import STRUCTURES, key
from deepgisas.sample import Experiment, Orientation
from deepgisas.units import DEG

# the paths whose values decide the fraction: shape, size distribution, interference
FILL_PATHS = ("sample.particles.shape.", "sample.particles.size_distribution.",
              "sample.interference.", "sample.particles.z_nm", "sample.layers.")


def decides_fill(path: str) -> bool:
    """Whether a free parameter's path enters the particles' volume fraction."""
    return path.startswith(FILL_PATHS)


def volume_fractions(base: Experiment, draws: Mapping[str, Sequence[Any]] | None = None,
                     n: int = 1) -> np.ndarray | None:
    """The particles' volume fraction f of their slice, [n], for ``base`` with the values at
    the paths of ``draws`` (path -> n values, as from
    :func:`deepgisas.templates.draw_parameters`; an orientation as ``{"xi_deg", "weights"}``)
    replacing its own; None when the sample has no particles."""
    s = base.sample
    pt, itf = s.particles, s.interference
    if pt is None or itf is None:
        return None
    draws = draws or {}

    def column(path: str, value: float) -> torch.Tensor:
        vals = draws.get(path)
        out = [value] * n if vals is None else [float(v) for v in vals]
        return torch.tensor(out, dtype=torch.float64)

    kind, shape = SHAPES[pt.shape.kind], pt.shape.kind
    sizes = {name: column(f"sample.particles.shape.{shape}.{name}", float(v))[:, None]
             * (DEG if name in kind.angles else 1.0) for name, v in pt.shape.values}
    wts = torch.ones(n, 1, dtype=torch.float64)
    sd = pt.size_distribution
    if sd is not None:
        sigma = column("sample.particles.size_distribution.lognormal.sigma", float(sd.sigma))
        if bool((sigma > 0).any()):
            median = sizes[kind.size_param][:, 0]
            x, w = size_samples(median, torch.where(sigma > 0, sigma, 1.0), sd.samples,
                                sd.width)
            one = (sigma > 0)[:, None]
            ratio = torch.where(one, x / median[:, None], 1.0)
            wts = torch.where(one, w, torch.eye(1, sd.samples, dtype=torch.float64))
            sizes = {name: v * ratio if name in kind.lengths else v.expand_as(ratio)
                     for name, v in sizes.items()}
    structure = STRUCTURES[itf.kind]
    prefix = f"sample.interference.{itf.kind}"
    p = {key(name): column(f"{prefix}.{name}", float(v)) for name, v in itf.params.values}
    orient = draws.get(f"{prefix}.orientation")
    if orient is not None:
        cov = [float(sum(o["weights"])) for o in orient]
    else:
        o = itf.orientation
        cov = [float(sum(o.weights)) if isinstance(o, Orientation) else 1.0] * n
    p["coverage"] = torch.tensor(cov, dtype=torch.float64)[:, None]
    p["xi"] = torch.zeros(n, 1, dtype=torch.float64)
    density = structure.coverage(p) * structure.density(p)
    layers = s.layers
    thickness = torch.stack([column(f"sample.layers.{i}.thickness_nm",
                                    float(la.thickness_nm or 0.0)) for i, la in enumerate(layers)],
                            -1)
    heights = kind.height(sizes)
    bottoms = member_bottoms(thickness, len(layers), pt.placement, pt.layer,
                             column("sample.particles.z_nm", float(pt.z_nm)), heights)
    fractions = [fill_fraction(kind, sizes, wts, density,
                               cut(thickness, i, len(layers), bottoms, heights))
                 for i in range(len(layers))]
    return torch.stack(fractions, -1).max(-1).values.numpy()


def overfilled(base: Experiment, draws: Mapping[str, Sequence[Any]] | None = None,
               n: int = 1) -> np.ndarray:
    """Whether BornAgain 25 refuses each of the n experiments (:func:`volume_fractions`):
    average materials on and f > 1; [n] bool."""
    f = volume_fractions(base, draws, n)
    if f is None or not base.use_average_materials:
        return np.zeros(n, dtype=bool)
    return f > 1.0


def check_fill(e: Experiment, where: str = "sample.particles") -> None:
    """Refuse an experiment whose particles overfill their slice (:func:`overfilled`) with a
    one-line UserError at ``where``."""
    if bool(overfilled(e)[0]):
        f = volume_fractions(e)
        assert f is not None
        raise UserError(
            f"the particles overfill their slice: their volume is {f[0]:.4g} times the slice's "
            "(coverage x density x mean volume / height), which BornAgain 25 refuses (\"Volume "
            "of sample components exceeds base volume\"); make them fewer or smaller, or set "
            "options.use_average_materials: false", where)
