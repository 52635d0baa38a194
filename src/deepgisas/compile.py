"""Compile concrete experiments to tensors: a static ``Structure`` plus a dict of [B, ...] tensors.

This is the one place where degrees become radians and description-file objects become tensors;
physics kernels see only what this returns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor

from deepgisas.physics.formfactors import SHAPES
from deepgisas.physics.simulate import Structure
from deepgisas.physics.structures import STRUCTURES
from deepgisas.placement import overlapped_layers, particle_slack
from deepgisas.sample import (
    Experiment,
    Orientation,
    Params,
    Rectangular,
    Spherical,
)
from deepgisas.units import DEG


def _chi(delta: float, beta: float) -> complex:
    """n^2 - 1 for n = 1 - delta + i beta, without rounding n^2 first: in float32, n^2 itself
    keeps only about two digits of delta ~ 1e-5, which changes patterns by percents."""
    return complex(-2.0 * delta + delta * delta - beta * beta, 2.0 * beta * (1.0 - delta))


def _shape_columns(cols: dict[str, list], prefix: str, shape: Params) -> None:
    """A shape's entries ``<prefix>.<name>``, angles in radians."""
    angles = SHAPES[shape.kind].angles
    for name, v in shape.values:
        cols[f"{prefix}.{name}"].append(float(v) * (DEG if name in angles else 1.0))


def structure_of(e: Experiment) -> Structure:
    """The static structure of a concrete experiment."""
    det = e.detector
    s = e.sample
    kw: dict = {}
    if s.particles is not None and s.interference is not None:
        pt = s.particles
        n_domains = 1
        if isinstance(s.interference.orientation, Orientation):
            n_domains = len(s.interference.orientation.xi_deg)
        sd = pt.size_distribution
        n_sizes = sd.samples if (sd is not None and float(sd.sigma) > 0) else 1
        kw = dict(particle_layer=pt.layer, placement=pt.placement, shape_kind=pt.shape.kind,
                  n_sizes=n_sizes, size_width=sd.width if sd is not None else 2.0,
                  interference=s.interference.kind, n_domains=n_domains)
        if pt.core is not None:
            kw.update(core_kind=pt.core.shape.kind, core_centred=pt.core.z_nm is None)
        layers = overlapped_layers(e)
        if e.use_average_materials and [i for i, _, _ in layers] != [pt.layer]:
            kw.update(crossing=layers)
        else:  # without average materials BornAgain does not cut particles at interfaces:
            # they scatter whole in their layer (its waves continued beyond it)
            above, below = particle_slack(e)
            kw.update(slice_above=abs(above) > 1e-9, slice_below=abs(below) > 1e-9)
    beam = e.beam
    spreads = tuple((_SPREAD_NAMES[name], sp.samples, sp.width) for name, sp in beam.divergence
                    if sp.samples > 1)
    return Structure(
        detector="spherical" if isinstance(det.geometry, Spherical) else "rectangular",
        shape=det.shape, n_layers=len(s.layers), roi=det.roi_px, masks=det.mask_px,
        use_average_materials=e.use_average_materials,
        rough=any(layer.roughness is not None for layer in s.layers),
        phi_i=beam.phi_i_deg is not None or any(n == "phi_i" for n, _, _ in spreads),
        beam_spread=spreads, resolution=det.resolution is not None, **kw)


# beam.divergence names -> the spread names of deepgisas.physics.instrument.SPREADS
_SPREAD_NAMES = {"alpha_i_deg": "alpha_i", "phi_i_deg": "phi_i", "wavelength": "wavelength"}


def _instrument_columns(st: Structure, e: Experiment, cols: dict[str, list]) -> None:
    """The columns of the azimuthal incidence, the beam spreads' widths (rad; relative for
    the wavelength) and the detector resolution (rad or mm), where ``st`` has them."""
    b = e.beam
    if st.phi_i:
        cols["phi_i"].append(float(b.phi_i_deg or 0.0) * DEG)
    spreads = dict(b.divergence)
    for name, key in _SPREAD_NAMES.items():
        if any(n == key for n, _, _ in st.beam_spread):
            cols[f"{key}_std"].append(float(spreads[name].std) * (
                1.0 if key == "wavelength" else DEG))
    res = e.detector.resolution
    if res is not None:
        factor = DEG if res.unit == "deg" else 1.0
        cols["resolution_sigma"].append([float(x) * factor for x in res.sigma])


def compile_batch(experiments: Sequence[Experiment], dtype: torch.dtype = torch.float64,
                  device: torch.device | str = "cpu") -> tuple[Structure, dict[str, Tensor]]:
    """Tensors for experiments that all share one Structure."""
    if not experiments:
        raise ValueError("no experiments")
    st = structure_of(experiments[0])
    cdt = torch.complex128 if dtype == torch.float64 else torch.complex64
    cols: dict[str, list] = defaultdict(list)
    for i, e in enumerate(experiments):
        if structure_of(e) != st:
            raise ValueError(f"experiment {i} has a different structure; use simulate_batch")
        b = e.beam
        cols["wavelength"].append(float(b.wavelength_nm))
        cols["alpha_i"].append(float(b.alpha_i_deg) * DEG)
        cols["intensity"].append(float(b.intensity))
        _instrument_columns(st, e, cols)
        g = e.detector.geometry
        if isinstance(g, Spherical):
            cols["phi_edges"].append([g.phi_deg[0] * DEG, g.phi_deg[1] * DEG])
            cols["alpha_edges"].append([g.alpha_deg[0] * DEG, g.alpha_deg[1] * DEG])
        elif isinstance(g, Rectangular):
            cols["pixel_mm"].append(g.pixel_size_mm)
            cols["distance_mm"].append(g.distance_mm)
            cols["center_px"].append(list(g.beam_center_px))
        layers = e.sample.layers
        cols["chi"].append([_chi(float(la.material.delta), float(la.material.beta))
                           for la in layers])
        cols["thickness"].append([float(la.thickness_nm or 0.0) for la in layers])
        for name, attr in (("sigma", "sigma_nm"), ("hurst", "hurst"),
                           ("corr_length", "correlation_length_nm")):
            cols[name].append([float(getattr(la.roughness, attr)) if la.roughness else
                               (0.0 if name == "sigma" else 1.0) for la in layers])
        pt, itf = e.sample.particles, e.sample.interference
        if pt is None or itf is None:
            continue
        cols["chi_particle"].append(_chi(float(pt.material.delta), float(pt.material.beta)))
        cols["particle_z"].append(float(pt.z_nm))
        _shape_columns(cols, "shape", pt.shape)
        if pt.core is not None:
            cols["chi_core"].append(_chi(float(pt.core.material.delta),
                                         float(pt.core.material.beta)))
            _shape_columns(cols, "core", pt.core.shape)
            if pt.core.z_nm is not None:
                cols["core_z"].append(float(pt.core.z_nm))
        sd = pt.size_distribution
        if sd is not None and sd.sigma > 0:
            cols["size_sigma"].append(sd.sigma)
        o = itf.orientation
        xi, weights = ([x * DEG for x in o.xi_deg], o.weights) if isinstance(o, Orientation) \
            else ((), ())
        values = {n: float(v) for n, v in itf.params.values}
        for name, v in STRUCTURES[itf.kind].columns(values, xi, weights).items():
            cols[name].append(v)
    out = {}
    for name, vals in cols.items():
        is_complex = name in ("chi", "chi_particle", "chi_core")
        out[name] = torch.tensor(vals, dtype=cdt if is_complex else dtype, device=device)
    return st, out


def spanning_structure(experiments: Sequence[Experiment]) -> Structure:
    """One structure that simulates every experiment (of equal structure but for where their
    particles sit): the layers their particles overlap widened to the union, with a part of each
    layer above and below the particles kept wherever one experiment needs it (slices of zero
    thickness for the others, without contrast: :func:`deepgisas.physics.crossing.empty_as`).
    The fit uses it so that its parameters may move particles across interfaces."""
    structures = [structure_of(e) for e in experiments]
    first = structures[0]
    def loose(s: Structure) -> Structure:
        return replace(s, slice_above=False, slice_below=False, crossing=())

    if any(loose(s) != loose(first) for s in structures):
        raise ValueError("the experiments differ in more than where their particles sit")
    if first.particle_layer is None or all(s == first for s in structures):
        return first
    touched: dict[int, tuple[bool, bool]] = {}
    for s in structures:
        layers = s.crossing or ((first.particle_layer, s.slice_above, s.slice_below),)
        for i, above, below in layers:
            a, b = touched.get(i, (False, False))
            touched[i] = (a or above, b or below)
    if len(touched) == 1 or not first.use_average_materials:
        above, below = touched[first.particle_layer]
        return replace(first, slice_above=above, slice_below=below, crossing=())
    span = range(min(touched), max(touched) + 1)
    reached = {i: [i in {j for j, _, _ in s.crossing or ((first.particle_layer, 0, 0),)}
                   for s in structures] for i in span}
    crossing = tuple((i, touched.get(i, (True, True))[0] or not all(reached[i]),
                      touched.get(i, (True, True))[1] or not all(reached[i])) for i in span)
    return replace(first, slice_above=False, slice_below=False, crossing=crossing)


def group_by_structure(experiments: Sequence[Experiment]) -> dict[Structure, list[int]]:
    """Indices of the experiments, grouped by their static structure."""
    groups: dict[Structure, list[int]] = defaultdict(list)
    for i, e in enumerate(experiments):
        groups[structure_of(e)].append(i)
    return dict(groups)
