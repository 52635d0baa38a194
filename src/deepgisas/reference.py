"""The BornAgain 25 equivalent of a description file, for tests and benchmarks.

BornAgain is optional (``pip install deepgisas[test]``); it is imported only when called. A flat
(rectangular) detector has no BornAgain 25 counterpart: ``bornagain_pixels`` simulates chosen
directions one spherical pixel at a time instead (without the detector resolution, which is a
convolution over the whole detector).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deepgisas.physics.formfactors import SHAPES
from deepgisas.physics.structures import STRUCTURES
from deepgisas.sample import Experiment, Material, Orientation, Spherical
from deepgisas.units import DEG

GREY = (0.5, 0.5, 0.5)


def _ba() -> Any:
    import bornagain

    return bornagain


def _material(ba: Any, m: Material, name: str) -> Any:
    if m.delta == 0.0 and m.beta == 0.0:
        return ba.Vacuum()
    return ba.RefractiveMaterial(name, GREY, float(m.delta), float(m.beta))


def _scaled(kind: str, values: dict[str, float], ratio: float) -> dict[str, float]:
    lengths = SHAPES[kind].lengths
    return {n: x * ratio if n in lengths else x for n, x in values.items()}


def _particle(ba: Any, e: Experiment) -> Any:
    """The particle (a ba.Mixture of scaled copies under a size distribution; a
    ba.CoreAndShell with a core)."""
    pt = e.sample.particles
    assert pt is not None
    mat = _material(ba, pt.material, "particle")
    values = {n: float(x) for n, x in pt.shape.values}
    sd = pt.size_distribution
    z = float(pt.z_nm)
    core = pt.core

    def make(ratio: float) -> Any:
        kind = pt.shape.kind
        vals = _scaled(kind, values, ratio)
        p = ba.Particle(mat, SHAPES[kind].bornagain(ba, vals))
        if core is not None:
            cvals = _scaled(core.shape.kind, {n: float(x) for n, x in core.shape.values}, ratio)
            inner = ba.Particle(_material(ba, core.material, "core"),
                                SHAPES[core.shape.kind].bornagain(ba, cvals))
            outer_h = float(SHAPES[kind].height(vals))  # type: ignore[arg-type]
            inner_h = float(SHAPES[core.shape.kind].height(cvals))  # type: ignore[arg-type]
            lift = (outer_h - inner_h) / 2.0 if core.z_nm is None else float(core.z_nm) * ratio
            if lift != 0.0:
                inner.translate(0.0, 0.0, lift)
            p = ba.CoreAndShell(inner, p)
        if z != 0.0:
            p.translate(0.0, 0.0, z)
        return p

    if sd is None or float(sd.sigma) == 0.0:
        return make(1.0)
    first = SHAPES[pt.shape.kind].size_param
    dist = ba.DistributionLogNormal(values[first], float(sd.sigma), sd.samples, sd.width)
    mix = ba.Mixture()
    for s in dist.distributionSamples():
        mix.addParticle(make(s.value / values[first]), s.weight)
    return mix


def _structures(ba: Any, e: Experiment) -> list[tuple[float | None, Any]]:
    itf = e.sample.interference
    assert itf is not None
    values = {n: float(v) for n, v in itf.params.values}
    o = itf.orientation
    xi, weights = ([x * DEG for x in o.xi_deg], o.weights) if isinstance(o, Orientation) \
        else ((), ())
    return STRUCTURES[itf.kind].bornagain(ba, lambda: _particle(ba, e), values, xi, weights)


def bornagain_sample(e: Experiment) -> Any:
    """The ``ba.Sample`` of a concrete experiment."""
    ba = _ba()
    sample = ba.Sample()
    pt = e.sample.particles
    for i, layer in enumerate(e.sample.layers):
        mat = _material(ba, layer.material, f"layer{i}")
        args: list[Any] = [mat]
        if layer.thickness_nm is not None:
            args.append(float(layer.thickness_nm))
        if layer.roughness is not None:
            r = layer.roughness
            args.append(ba.Roughness(ba.SelfAffineFractalModel(
                float(r.sigma_nm), float(r.hurst), float(r.correlation_length_nm)),
                ba.ErfTransient()))
        la = ba.Layer(*args)
        if pt is not None and pt.layer == i:
            for w, s in _structures(ba, e):
                if pt.placement == "deposit":
                    la.addDeposit2D(w, s) if w is not None else la.deposit2D(s)
                else:
                    la.addSuspend2D(w, s) if w is not None else la.suspend2D(s)
        sample.addLayer(la)
    return sample


def _simulation(e: Experiment, detector: Any, threads: int | None) -> Any:
    ba = _ba()
    b = e.beam
    beam = ba.Beam(float(b.intensity), float(b.wavelength_nm), float(b.alpha_i_deg) * DEG,
                   float(b.phi_i_deg or 0.0) * DEG)
    sim = ba.ScatteringSimulation(beam, bornagain_sample(e), detector)
    sim.options().setUseAvgMaterials(e.use_average_materials)
    which = {"alpha_i_deg": (ba.ParameterDistribution.BeamGrazingAngle, b.alpha_i_deg, DEG),
             "phi_i_deg": (ba.ParameterDistribution.BeamAzimuthalAngle, b.phi_i_deg or 0.0, DEG),
             "wavelength": (ba.ParameterDistribution.BeamWavelength, b.wavelength_nm, 1.0)}
    for name, spread in b.divergence:
        param, mean, factor = which[name]
        mean = float(mean) * factor
        std = float(spread.std) * (mean if name == "wavelength" else DEG)
        sim.addParameterDistribution(param, ba.DistributionGaussian(
            mean, std, spread.samples, float(spread.width)))
    if threads is not None:
        sim.options().setNumberOfThreads(threads)
    return sim


def bornagain_simulate(e: Experiment, threads: int | None = None) -> np.ndarray:
    """BornAgain 25's intensities for a spherical-detector experiment, [n_alpha, n_phi]."""
    ba = _ba()
    g = e.detector.geometry
    if not isinstance(g, Spherical):
        raise ValueError("BornAgain 25 has no flat detector; use bornagain_pixels")
    rows, cols = g.shape
    det = ba.SphericalDetector(cols, g.phi_deg[0] * DEG, g.phi_deg[1] * DEG,
                               rows, g.alpha_deg[0] * DEG, g.alpha_deg[1] * DEG)
    if e.detector.roi_px is not None or e.detector.mask_px:
        keep = np.zeros((rows, cols), dtype=bool)
        if e.detector.roi_px is not None:
            c0, r0, c1, r1 = e.detector.roi_px
            keep[r0:r1, c0:c1] = True
        else:
            keep[:] = True
        for c0, r0, c1, r1 in e.detector.mask_px:
            keep[r0:r1, c0:c1] = False
        det.setMask(~keep)
    res = e.detector.resolution
    if res is not None:
        det.setResolutionFunction(ba.ResolutionFunction2DGaussian(
            float(res.sigma[0]) * DEG, float(res.sigma[1]) * DEG))
    out = np.array(_simulation(e, det, threads).simulate().intensities(), dtype=np.float64)
    return out


def bornagain_pixels(e: Experiment, ux: np.ndarray, uy: np.ndarray, uz: np.ndarray,
                     omega: np.ndarray) -> np.ndarray:
    """BornAgain's value of single pixels in the directions ``u`` (unit vectors, any shape)
    with solid angles ``omega`` (sr): one tiny spherical pixel each, centred on u in
    BornAgain 25's detector coordinates (t_phi = tan phi_f, t_alpha = tan alpha_f
    sqrt(1 + t_phi^4): :mod:`deepgisas.physics.detector`), rescaled from its own solid angle to
    ``omega``."""
    ba = _ba()
    out = np.empty(np.shape(ux))
    half = 1e-6
    for idx in np.ndindex(out.shape):
        p = float(uy[idx] / ux[idx])
        ru = math.sqrt(1.0 + p**4)
        a = float(uz[idx] / math.hypot(ux[idx], uy[idx])) * ru
        det = ba.SphericalDetector(1, p - half, p + half, 1, a - half, a + half)
        val = np.array(_simulation(e, det, 1).simulate().intensities())[0, 0]
        own = (math.atan(p + half) - math.atan(p - half)) * abs(
            math.sin(math.atan((a + half) / ru)) - math.sin(math.atan((a - half) / ru)))
        out[idx] = val / own * omega[idx]
    return out
