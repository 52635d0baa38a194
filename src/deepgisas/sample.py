"""The concrete experiment and its parts as frozen dataclasses: sample (layers, particles,
interference), beam and detector, each with ``to_dict`` (the description format,
shared/CONTRACT.md section 1) and the ``parse`` of its own dict part. Every number is a
number: a prior in a description is parsed at its centre, and the prior itself is kept by the
:class:`~deepgisas.templates.Template` whose base this experiment is.

One canonical nested ``dict`` (what ``to_dict`` returns and what the file holds) is the single
source of truth for paths: a free parameter is named by its path in that dict
(``sample.particles.shape.sphere.radius_nm``), and sampling a template substitutes values at
those paths and validates the result again. Whole descriptions are parsed by
:mod:`deepgisas.parse` and read from files by :mod:`deepgisas.io.description`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from deepgisas.errors import UserError
from deepgisas.physics.params import ParamSpec
from deepgisas.physics.structures import STRUCTURES
from deepgisas.validate import integer, keys, one_of, pair, plain, spec_number

N_XI_BINS_DEFAULT = 120

MATERIAL_PARAMS = (
    ParamSpec("delta", "1", 0.0, (-1.0, 1.0), "refractive decrement (n = 1 - delta + i beta)"),
    ParamSpec("beta", "1", 0.0, (0.0, math.inf), "absorption", lo_open=False),
)
SIZE_DISTRIBUTION_PARAMS = (
    ParamSpec("sigma", "1", 0.1, (0.0, 5.0), "lognormal scale of the size parameter"),
)


# ---------------------------------------------------------------- building blocks


@dataclass(frozen=True)
class Material:
    """Refractive index n = 1 - delta + i beta (X-ray or neutron, at the beam's wavelength)."""

    delta: float = 0.0
    beta: float = 0.0

    @classmethod
    def parse(cls, d: Any, where: str) -> Material:
        if d == "vacuum":
            return cls()
        d = keys(d, where, ("delta", "beta"), ("delta",))
        delta, beta = MATERIAL_PARAMS
        return cls(spec_number(d["delta"], f"{where}.delta", delta),
                   spec_number(d.get("beta", 0.0), f"{where}.beta", beta))

    def to_dict(self) -> Any:
        if self.delta == 0.0 and self.beta == 0.0:
            return "vacuum"
        return {"delta": self.delta, "beta": self.beta}


ROUGHNESS_PARAMS = (
    ParamSpec("sigma_nm", "nm", 0.5, (0.0, math.inf), "rms height", lo_open=False),
    ParamSpec("hurst", "1", 0.5, (0.0, 1.0), "Hurst exponent", hi_open=False),
    ParamSpec("correlation_length_nm", "nm", 10.0, (0.0, math.inf), "lateral correlation length"),
)


@dataclass(frozen=True)
class Roughness:
    """Top-interface roughness: ba.SelfAffineFractalModel + ba.ErfTransient."""

    sigma_nm: float
    hurst: float = 0.5
    correlation_length_nm: float = 10.0

    @classmethod
    def parse(cls, d: Any, where: str) -> Roughness:
        names = [p.name for p in ROUGHNESS_PARAMS]
        d = keys(d, where, names, ("sigma_nm",))
        vals = {p.name: spec_number(d.get(p.name, p.default), f"{where}.{p.name}", p)
                for p in ROUGHNESS_PARAMS}
        return cls(**vals)

    def to_dict(self) -> dict:
        return {p.name: getattr(self, p.name) for p in ROUGHNESS_PARAMS}


@dataclass(frozen=True)
class Layer:
    material: Material
    thickness_nm: float | None = None
    roughness: Roughness | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"material": self.material.to_dict()}
        if self.thickness_nm is not None:
            out["thickness_nm"] = self.thickness_nm
        if self.roughness is not None:
            out["roughness"] = self.roughness.to_dict()
        return out


@dataclass(frozen=True)
class Params:
    """A kind name plus its numbers, checked against the kind's parameter table."""

    kind: str
    values: tuple[tuple[str, float], ...]

    def __getitem__(self, name: str) -> float:
        return dict(self.values)[name]

    @classmethod
    def parse(cls, kind: str, d: Any, where: str, table: tuple[ParamSpec, ...],
              required: Sequence[str]) -> Params:
        d = keys(d, where, [p.name for p in table], required)
        vals = tuple((p.name, spec_number(d.get(p.name, p.default), f"{where}.{p.name}", p))
                     for p in table)
        return cls(kind, vals)

    def to_dict(self) -> dict:
        return {self.kind: {k: v for k, v in self.values}}


@dataclass(frozen=True)
class SizeDistribution:
    """Lognormal over the shape's first size parameter (median = that parameter)."""

    sigma: float
    samples: int = 20
    width: float = 2.0

    @classmethod
    def parse(cls, d: Any, where: str) -> SizeDistribution:
        d = keys(d, where, ("lognormal", "samples", "width"), ("lognormal",))
        ln = keys(d["lognormal"], f"{where}.lognormal", ("sigma",), ("sigma",))
        return cls(spec_number(ln["sigma"], f"{where}.lognormal.sigma",
                               SIZE_DISTRIBUTION_PARAMS[0]),
                   integer(d.get("samples", 20), f"{where}.samples", 1),
                   plain(d.get("width", 2.0), f"{where}.width", 1e-6, 10.0))

    def to_dict(self) -> dict:
        return {"lognormal": {"sigma": self.sigma}, "samples": self.samples,
                "width": self.width}


@dataclass(frozen=True)
class Core:
    """The core of a core-shell particle (ba.CoreAndShell): its material and shape inside the
    particle's shape, which is then the shell. ``z_nm`` is the height of the core's bottom above
    the shell's bottom; None centres the core vertically. Under a size distribution the core's
    lengths and ``z_nm`` scale with the shell's."""

    material: Material
    shape: Params
    z_nm: float | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"material": self.material.to_dict(), "shape": self.shape.to_dict()}
        if self.z_nm is not None:
            out["z_nm"] = self.z_nm
        return out


@dataclass(frozen=True)
class Particles:
    material: Material
    shape: Params
    layer: int = 0
    placement: str = "deposit"
    z_nm: float = 0.0
    size_distribution: SizeDistribution | None = None
    core: Core | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"layer": self.layer, "placement": self.placement,
                               "z_nm": self.z_nm, "material": self.material.to_dict(),
                               "shape": self.shape.to_dict()}
        if self.size_distribution is not None:
            out["size_distribution"] = self.size_distribution.to_dict()
        if self.core is not None:
            out["core"] = self.core.to_dict()
        return out


@dataclass(frozen=True)
class Orientation:
    """Lattice domains: rotation angles xi (deg) with weights (coverages)."""

    xi_deg: tuple[float, ...]
    weights: tuple[float, ...]

    def to_dict(self) -> dict:
        return {"xi_deg": list(self.xi_deg), "weights": list(self.weights)}


@dataclass(frozen=True)
class RandomBins:
    """Prior over orientations: `nonzero` of `bins` xi bins (0, 60/bins, ... deg) weighted."""

    bins: int = N_XI_BINS_DEFAULT
    nonzero: tuple[int, int] = (1, 5)

    def to_dict(self) -> dict:
        return {"random_bins": {"bins": self.bins, "nonzero": list(self.nonzero)}}


def parse_orientation(d: Any, where: str) -> Orientation | RandomBins:
    """A lattice's ``orientation``: domains, or a ``random_bins`` prior over them."""
    if isinstance(d, Mapping) and "random_bins" in d:
        d = keys(d, where, ("random_bins",))
        rb = keys(d["random_bins"], f"{where}.random_bins", ("bins", "nonzero"))
        bins = integer(rb.get("bins", N_XI_BINS_DEFAULT), f"{where}.random_bins.bins", 1)
        nz = pair(rb.get("nonzero", [1, 5]), f"{where}.random_bins.nonzero", int)
        if not 1 <= nz[0] <= nz[1] <= bins:
            raise UserError(f"need 1 <= {nz[0]} <= {nz[1]} <= bins", f"{where}.random_bins")
        return RandomBins(bins, nz)
    d = keys(d, where, ("xi_deg", "weights"), ("xi_deg", "weights"))
    xi, w = d["xi_deg"], d["weights"]
    if not isinstance(xi, list) or not isinstance(w, list) or len(xi) != len(w) or not xi:
        raise UserError("xi_deg and weights must be non-empty lists of equal length", where)
    xis = tuple(plain(v, f"{where}.xi_deg") for v in xi)
    ws = tuple(plain(v, f"{where}.weights", 0.0, 1.0) for v in w)
    if sum(ws) <= 0.0 or sum(ws) > 1.0 + 1e-9:
        raise UserError(f"weights are coverages: their sum {sum(ws):g} must be in (0, 1]", where)
    return Orientation(xis, ws)


@dataclass(frozen=True)
class Interference:
    params: Params
    orientation: Orientation | None = None

    @property
    def kind(self) -> str:
        return self.params.kind

    @classmethod
    def parse(cls, d: Any, where: str) -> Interference:
        kind, body = one_of(d, where, tuple(STRUCTURES))
        st = STRUCTURES[kind]
        w = f"{where}.{kind}"
        body = dict(keys(body, w, [p.name for p in st.params] + (
            ["orientation"] if st.has_orientation else [])))
        orient = None
        if st.has_orientation:
            default = {"xi_deg": [0.0], "weights": [1.0]}
            parsed = parse_orientation(body.pop("orientation", default), f"{w}.orientation")
            orient = parsed if isinstance(parsed, Orientation) else None
            if orient is None:  # a template's base: one domain at xi = 0
                orient = Orientation((0.0,), (1.0,))
        required = [p.name for p in st.params[:1]]
        return cls(Params.parse(kind, body, w, st.params, required), orient)

    def to_dict(self) -> dict:
        out = self.params.to_dict()
        if self.orientation is not None:
            out[self.kind]["orientation"] = self.orientation.to_dict()
        return out


@dataclass(frozen=True)
class Sample:
    layers: tuple[Layer, ...]
    particles: Particles | None = None
    interference: Interference | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"layers": [layer.to_dict() for layer in self.layers]}
        if self.particles is not None:
            out["particles"] = self.particles.to_dict()
        if self.interference is not None:
            out["interference"] = self.interference.to_dict()
        return out


@dataclass(frozen=True)
class Spread:
    """A Gaussian spread of a beam parameter, ba.DistributionGaussian(value, std, samples,
    width): ``std`` in degrees for an angle, relative (std / wavelength) for the wavelength."""

    std: float
    samples: int = 5
    width: float = 2.0

    def to_dict(self, std_key: str) -> dict:
        return {std_key: self.std, "samples": self.samples, "width": self.width}


SPREAD_STD_KEYS = {"alpha_i_deg": "gaussian_std_deg", "phi_i_deg": "gaussian_std_deg",
                   "wavelength": "relative_std"}  # beam.divergence.NAME.KEY


@dataclass(frozen=True)
class Beam:
    """``phi_i_deg``: the azimuthal incidence angle (None: not given, 0); ``divergence``:
    Gaussian spreads by name (alpha_i_deg, phi_i_deg, wavelength), in that order."""

    wavelength_nm: float = 0.1341
    alpha_i_deg: float = 0.164
    intensity: float = 1.0
    phi_i_deg: float | None = None
    divergence: tuple[tuple[str, Spread], ...] = ()

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"wavelength_nm": self.wavelength_nm,
                               "alpha_i_deg": self.alpha_i_deg, "intensity": self.intensity}
        if self.phi_i_deg is not None:
            out["phi_i_deg"] = self.phi_i_deg
        if self.divergence:
            out["divergence"] = {name: s.to_dict(SPREAD_STD_KEYS[name])
                                 for name, s in self.divergence}
        return out


@dataclass(frozen=True)
class Spherical:
    """ba.SphericalDetector: outer bin edges in degrees, shape [n_alpha, n_phi]."""

    phi_deg: tuple[float, float] = (-1.07, 1.07)
    alpha_deg: tuple[float, float] = (0.0, 2.2)
    shape: tuple[int, int] = (256, 256)

    def to_dict(self) -> dict:
        return {"spherical": {"phi_deg": list(self.phi_deg), "alpha_deg": list(self.alpha_deg),
                              "shape": list(self.shape)}}


@dataclass(frozen=True)
class Rectangular:
    """Flat detector perpendicular to the direct beam; rows counted from the bottom.

    Pixel (row i, column j) spans [j, j+1) x [i, i+1) in pixel coordinates; the direct beam
    hits ``beam_center_px`` = (column, row) in those coordinates.
    """

    shape: tuple[int, int]
    pixel_size_mm: float
    distance_mm: float
    beam_center_px: tuple[float, float]

    def to_dict(self) -> dict:
        return {"rectangular": {"shape": list(self.shape), "pixel_size_mm": self.pixel_size_mm,
                                "distance_mm": self.distance_mm,
                                "beam_center_px": list(self.beam_center_px)}}


@dataclass(frozen=True)
class Resolution:
    """A Gaussian detector resolution, ba.ResolutionFunction2DGaussian(sigma_x, sigma_y):
    ``sigma`` = (along phi_f / the columns, along alpha_f / the rows), in ``unit`` "deg"
    (spherical detector) or "mm" (flat detector)."""

    sigma: tuple[float, float]
    unit: str = "deg"

    def to_dict(self) -> dict:
        return {f"gaussian_sigma_{self.unit}": list(self.sigma)}


@dataclass(frozen=True)
class Detector:
    """``orientation``: how the instrument's detector files store the image, overriding the
    format's default (:mod:`deepgisas.io.readers`): "top-down", "bottom-up", or "vertical"
    for a vertical-sample instrument (MARIA: file columns are alpha_f); None = the default.
    ``resolution``: the detector's Gaussian resolution, or None."""

    geometry: Spherical | Rectangular = field(default_factory=Spherical)
    roi_px: tuple[int, int, int, int] | None = None
    mask_px: tuple[tuple[int, int, int, int], ...] = ()
    orientation: str | None = None
    resolution: Resolution | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.geometry.shape

    def to_dict(self) -> dict:
        out = self.geometry.to_dict()
        if self.roi_px is not None:
            out["roi_px"] = list(self.roi_px)
        if self.mask_px:
            out["mask_px"] = [list(m) for m in self.mask_px]
        if self.orientation is not None:
            out["orientation"] = self.orientation
        if self.resolution is not None:
            out["resolution"] = self.resolution.to_dict()
        return out


@dataclass(frozen=True)
class Experiment:
    """One concrete experiment: every number a number (templates: :mod:`deepgisas.templates`)."""

    beam: Beam
    detector: Detector
    sample: Sample
    use_average_materials: bool = True

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"beam": self.beam.to_dict(), "detector": self.detector.to_dict(),
                               "sample": self.sample.to_dict()}
        if not self.use_average_materials:
            out["options"] = {"use_average_materials": False}
        return out


def short_name(path: str) -> str:
    """A path's last component, with the one before it when the last is a list index
    (``detector.resolution.gaussian_sigma_deg.0`` -> ``gaussian_sigma_deg.0``)."""
    parts = path.split(".")
    return ".".join(parts[-2:]) if parts[-1].isdigit() and len(parts) > 1 else parts[-1]


def free_name_map(free: Sequence[str]) -> dict[str, str]:
    """Name -> full path for free parameters: every path, plus its short name
    (:func:`short_name`) when unique."""
    last = [short_name(p) for p in free]
    out = {name: p for name, p in zip(last, free, strict=True) if last.count(name) == 1}
    out.update({p: p for p in free})
    return out
