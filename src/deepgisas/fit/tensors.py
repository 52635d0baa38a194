"""Free parameters of a template as a differentiable map: normalised values -> simulator tensors.

The template is compiled once at the centre of its priors; :func:`with_free` then writes a batch
of normalised values (the unit box of :class:`deepgisas.data.labels.LabelSpace`: linear for
``uniform``, logarithmic for ``log_uniform``) into those tensors with autograd intact, so that
``free(theta)`` (= ``simulate_tensors(structure, with_free(free, theta))``) is a plain batched
simulator, theta [B, P] -> I [B, rows, cols], differentiable in ``theta``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from deepgisas.compile import compile_batch, spanning_structure
from deepgisas.data.labels import LabelSpace
from deepgisas.errors import UserError
from deepgisas.physics.formfactors import SHAPES
from deepgisas.physics.simulate import Structure, simulate_tensors
from deepgisas.physics.structures import key as structure_key
from deepgisas.priors import LogUniform, Prior
from deepgisas.sample import Experiment, RandomBins
from deepgisas.templates import Template, instantiate
from deepgisas.units import DEG

# beam and particle paths -> (tensor key, factor to internal units); shape and interference
# parameters are keyed by their table names, and a layer index becomes the column
_SCALAR = {
    "beam.wavelength_nm": ("wavelength", 1.0),
    "beam.alpha_i_deg": ("alpha_i", DEG),
    "beam.intensity": ("intensity", 1.0),
    "sample.particles.z_nm": ("particle_z", 1.0),
    "sample.particles.size_distribution.lognormal.sigma": ("size_sigma", 1.0),
    "sample.particles.core.z_nm": ("core_z", 1.0),
    "beam.phi_i_deg": ("phi_i", DEG),
    "beam.divergence.alpha_i_deg.gaussian_std_deg": ("alpha_i_std", DEG),
    "beam.divergence.phi_i_deg.gaussian_std_deg": ("phi_i_std", DEG),
    "beam.divergence.wavelength.relative_std": ("wavelength_std", 1.0),
}
_RESOLUTION = re.compile(r"detector\.resolution\.gaussian_sigma_(deg|mm)\.([01])$")
_SHAPE = re.compile(r"sample\.particles\.(core\.)?shape\.(\w+)\.(\w+)$")
_INTERFERENCE = re.compile(r"sample\.interference\.\w+\.(\w+)$")
_LAYER = re.compile(r"sample\.layers\.(\d+)\.(thickness_nm|roughness\.(sigma_nm|hurst|"
                    r"correlation_length_nm))$")
_ROUGH_KEY = {"sigma_nm": "sigma", "hurst": "hurst", "correlation_length_nm": "corr_length"}


@dataclass(frozen=True)
class FreeParameter:
    """One fitted number: its path, short name, prior and where it lives in the tensors."""

    path: str
    name: str
    prior: Prior
    key: str  # tensor name in compile_batch's dict
    column: int | None  # column of a [B, n] tensor (layers), None for [B]
    factor: float  # physical unit -> internal unit (deg -> rad)

    def to_physical(self, theta: Tensor) -> Tensor:
        """Normalised value(s) -> physical value(s) (in the file's units)."""
        lo, hi = self.prior.lo, self.prior.hi
        if isinstance(self.prior, LogUniform):
            return torch.exp(math.log(lo) + theta * (math.log(hi) - math.log(lo)))
        return lo + theta * (hi - lo)

    def slope(self, theta: float) -> float:
        """d physical / d normalised at ``theta`` (for standard deviations)."""
        lo, hi = self.prior.lo, self.prior.hi
        if isinstance(self.prior, LogUniform):
            return float(self.to_physical(torch.tensor(theta))) * math.log(hi / lo)
        return hi - lo


@dataclass(frozen=True)
class FreeTensors:
    """A compiled template: its structure, tensors at the prior centre (batch 1), and the
    fitted numbers in order."""

    structure: Structure
    base: dict[str, Tensor]
    params: tuple[FreeParameter, ...]
    fixed: Mapping[str, float] = field(default_factory=dict)  # path -> value held

    @property
    def names(self) -> list[str]:
        return [q.name for q in self.params]

    def __call__(self, theta: Tensor) -> Tensor:
        """The template as a plain batched simulator: normalised values ``theta`` [B, P] ->
        intensity [B, rows, cols], differentiable in ``theta``."""
        return simulate_tensors(self.structure, with_free(self, theta))


def _locate(path: str) -> tuple[str, int | None, float]:
    if path in _SCALAR:
        key, factor = _SCALAR[path]
        return key, None, factor
    m = _SHAPE.match(path)
    if m:
        prefix = "core" if m.group(1) else "shape"
        angle = m.group(3) in SHAPES[m.group(2)].angles
        return f"{prefix}.{m.group(3)}", None, DEG if angle else 1.0
    m = _INTERFERENCE.match(path)
    if m:
        return structure_key(m.group(1)), None, 1.0
    m = _RESOLUTION.match(path)
    if m:
        return "resolution_sigma", int(m.group(2)), DEG if m.group(1) == "deg" else 1.0
    m = _LAYER.match(path)
    if m:
        key = "thickness" if m.group(3) is None else _ROUGH_KEY[m.group(3)]
        return key, int(m.group(1)), 1.0
    raise UserError("fitting this free parameter is not supported (material constants and "
                    "detector geometry must be fixed numbers)", path)


def free_tensors(template: Template, fixed: dict[str, float] | None = None,
                 dtype: torch.dtype = torch.float64) -> FreeTensors:
    """Compile ``template`` at its prior centres, its orientation prior (if any) replaced by a
    single domain at xi = 0 and the parameters in ``fixed`` (path or short name -> physical
    value) set and left out of the fitted numbers."""
    labels = LabelSpace.of(template)
    by_name = {**{short: path for path, short in labels.short.items()},
               **{path: path for path in labels.short}}
    unknown = [k for k in (fixed or {}) if k not in by_name]
    if unknown:
        raise UserError("not a free parameter of the template", unknown[0])
    fixed = {by_name[k]: float(v) for k, v in (fixed or {}).items()}
    draws: dict[str, list] = {}
    params = []
    for path, prior in template.priors.items():
        if isinstance(prior, RandomBins):
            draws[path] = [{"xi_deg": [0.0], "weights": [1.0]}]
            continue
        if path in fixed:
            draws[path] = [float(fixed[path])]
            continue
        draws[path] = [float(prior.from_unit(0.5))]
        key, column, factor = _locate(path)
        params.append(FreeParameter(path, labels.short[path], prior, key, column, factor))
    experiment = instantiate(template, draws)[0]
    structure, base = compile_batch([experiment], dtype=dtype)
    if structure.particle_layer is not None and _may_move(template):
        structure = spanning_structure([experiment, *_spread(template, draws, params)])
    missing = [q.path for q in params if q.key not in base]
    if missing:
        raise UserError("this free parameter does not enter the simulation", missing[0])
    return FreeTensors(structure, base, tuple(params), fixed)


def _may_move(template: Template) -> bool:
    """Whether the priors may move the particles across an interface or change the slices
    around them: not for particles on the ambient's bottom (or below the substrate's top) at a
    fixed height, which extend into a semi-infinite medium."""
    pt = template.base.sample.particles
    assert pt is not None
    if "sample.particles.z_nm" in template.priors:
        return True
    last = len(template.base.sample.layers) - 1
    on_ambient = pt.layer == 0 and pt.placement == "deposit" and pt.z_nm >= 0
    in_substrate = pt.layer == last and pt.placement == "suspend" and pt.z_nm <= 0
    return not (on_ambient or in_substrate)


def _spread(template: Template, centre: dict[str, list], params: list[FreeParameter],
            n: int = 32) -> list[Experiment]:
    """Experiments across the free parameters' priors (all at their lower ends, all at their
    upper ends, and ``n`` random draws, seed 0): where the particles may sit. Draws that are
    not valid experiments are left out."""
    if not params:
        return []
    rng = np.random.default_rng(0)
    units = [np.zeros(len(params)), np.ones(len(params)), *rng.random((n, len(params)))]
    out = []
    for u in units:
        draws = dict(centre)
        for q, x in zip(params, u, strict=True):
            draws[q.path] = [float(q.prior.from_unit(float(x)))]
        try:
            out.extend(instantiate(template, draws))
        except UserError:
            continue
    return out


def with_free(free: FreeTensors, theta: Tensor) -> dict[str, Tensor]:
    """Simulator tensors for a batch of normalised values ``theta`` [B, P] (differentiable).

    Every other tensor is the template's at its prior centre, expanded to batch B."""
    b = theta.shape[0]
    out = {k: v.expand(b, *v.shape[1:]) for k, v in free.base.items()}
    columns: dict[str, dict[int, Tensor]] = {}
    for i, q in enumerate(free.params):
        value = q.to_physical(theta[:, i]) * q.factor
        if q.column is None:
            out[q.key] = value.to(out[q.key].dtype)
        else:
            columns.setdefault(q.key, {})[q.column] = value
    for key, cols in columns.items():
        base = out[key]
        out[key] = torch.stack([cols[j] if j in cols else base[:, j]
                                for j in range(base.shape[1])], -1)
    return out


def physical(free: FreeTensors, theta: np.ndarray) -> dict[str, float]:
    """Normalised values [P] -> short name -> physical value."""
    t = torch.as_tensor(np.asarray(theta, dtype=np.float64))
    return {q.name: float(q.to_physical(t[i])) for i, q in enumerate(free.params)}
