"""Description files (YAML or JSON) <-> validated frozen dataclasses.

The format is shared/CONTRACT.md section 1. One canonical nested ``dict`` (what ``to_dict``
returns and what the file holds) is the single source of truth for paths: a free parameter is
named by its path in that dict (``sample.particles.shape.sphere.radius_nm``), and sampling a
template substitutes values at those paths and validates the result again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from deepgisas.errors import UserError
from deepgisas.io.readers import ORIENTATIONS
from deepgisas.physics.formfactors import SHAPES
from deepgisas.physics.params import ParamSpec
from deepgisas.physics.structures import STRUCTURES
from deepgisas.priors import LogUniform, Number, Prior, Uniform, parse_number

N_XI_BINS_DEFAULT = 120


def _keys(d: Any, where: str, allowed: Sequence[str], required: Sequence[str] = ()) -> dict:
    if not isinstance(d, Mapping):
        raise UserError(f"expected a mapping, got {type(d).__name__}", where)
    unknown = [k for k in d if k not in allowed]
    if unknown:
        raise UserError(f"unknown key '{unknown[0]}' (allowed: {', '.join(allowed)})", where)
    missing = [k for k in required if k not in d]
    if missing:
        raise UserError(f"missing key '{missing[0]}'", where)
    return dict(d)


def _one_of(d: Any, where: str, choices: Sequence[str]) -> tuple[str, Any]:
    d = _keys(d, where, choices)
    if len(d) != 1:
        raise UserError(f"give exactly one of {', '.join(choices)}", where)
    return next(iter(d.items()))


def _spec_number(value: Any, where: str, spec: ParamSpec) -> Number:
    num = parse_number(value, where)
    values = (num.lo, num.hi) if isinstance(num, Uniform | LogUniform) else (num,)
    for v in values:
        if not spec.admits(v):
            raise UserError(f"{v:g} is outside {spec.describe_bounds()} {spec.unit}", where)
    return num


def _plain(value: Any, where: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    num = parse_number(value, where, allow_prior=False)
    assert isinstance(num, float)
    if not lo <= num <= hi:
        raise UserError(f"{num:g} is outside [{lo:g}, {hi:g}]", where)
    return num


def _int(value: Any, where: str, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise UserError(f"expected an integer >= {lo}, got {value!r}", where)
    return value


def _pair(value: Any, where: str, kind: type = float) -> tuple:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise UserError(f"expected a list of two numbers, got {value!r}", where)
    if kind is int:
        return tuple(_int(v, where, 1) for v in value)
    return tuple(_plain(v, where) for v in value)


def _num_dict(n: Number) -> Any:
    return n.to_dict() if isinstance(n, Uniform | LogUniform) else n


# ---------------------------------------------------------------- building blocks


@dataclass(frozen=True)
class Material:
    """Refractive index n = 1 - delta + i beta (X-ray or neutron, at the beam's wavelength)."""

    delta: Number = 0.0
    beta: Number = 0.0

    @classmethod
    def parse(cls, d: Any, where: str) -> Material:
        if d == "vacuum":
            return cls()
        d = _keys(d, where, ("delta", "beta"), ("delta",))
        beta_spec = ParamSpec("beta", "1", 0.0, (0.0, math.inf), "absorption", lo_open=False)
        delta_spec = ParamSpec("delta", "1", 0.0, (-1.0, 1.0), "refractive decrement")
        return cls(
            _spec_number(d["delta"], f"{where}.delta", delta_spec),
            _spec_number(d.get("beta", 0.0), f"{where}.beta", beta_spec),
        )

    def to_dict(self) -> Any:
        if self.delta == 0.0 and self.beta == 0.0:
            return "vacuum"
        return {"delta": _num_dict(self.delta), "beta": _num_dict(self.beta)}


ROUGHNESS_PARAMS = (
    ParamSpec("sigma_nm", "nm", 0.5, (0.0, math.inf), "rms height", lo_open=False),
    ParamSpec("hurst", "1", 0.5, (0.0, 1.0), "Hurst exponent", hi_open=False),
    ParamSpec("correlation_length_nm", "nm", 10.0, (0.0, math.inf), "lateral correlation length"),
)


@dataclass(frozen=True)
class Roughness:
    """Top-interface roughness: ba.SelfAffineFractalModel + ba.ErfTransient."""

    sigma_nm: Number
    hurst: Number = 0.5
    correlation_length_nm: Number = 10.0

    @classmethod
    def parse(cls, d: Any, where: str) -> Roughness:
        names = [p.name for p in ROUGHNESS_PARAMS]
        d = _keys(d, where, names, ("sigma_nm",))
        vals = {p.name: _spec_number(d.get(p.name, p.default), f"{where}.{p.name}", p)
                for p in ROUGHNESS_PARAMS}
        return cls(**vals)

    def to_dict(self) -> dict:
        return {p.name: _num_dict(getattr(self, p.name)) for p in ROUGHNESS_PARAMS}


@dataclass(frozen=True)
class Layer:
    material: Material
    thickness_nm: Number | None = None
    roughness: Roughness | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"material": self.material.to_dict()}
        if self.thickness_nm is not None:
            out["thickness_nm"] = _num_dict(self.thickness_nm)
        if self.roughness is not None:
            out["roughness"] = self.roughness.to_dict()
        return out


@dataclass(frozen=True)
class Params:
    """A kind name plus its numbers, checked against the kind's parameter table."""

    kind: str
    values: tuple[tuple[str, Number], ...]

    def __getitem__(self, name: str) -> Number:
        return dict(self.values)[name]

    @classmethod
    def parse(cls, kind: str, d: Any, where: str, table: tuple[ParamSpec, ...],
              required: Sequence[str]) -> Params:
        d = _keys(d, where, [p.name for p in table], required)
        vals = tuple((p.name, _spec_number(d.get(p.name, p.default), f"{where}.{p.name}", p))
                     for p in table)
        return cls(kind, vals)

    def to_dict(self) -> dict:
        return {self.kind: {k: _num_dict(v) for k, v in self.values}}


@dataclass(frozen=True)
class SizeDistribution:
    """Lognormal over the shape's first size parameter (median = that parameter)."""

    sigma: Number
    samples: int = 20
    width: float = 2.0

    @classmethod
    def parse(cls, d: Any, where: str) -> SizeDistribution:
        d = _keys(d, where, ("lognormal", "samples", "width"), ("lognormal",))
        ln = _keys(d["lognormal"], f"{where}.lognormal", ("sigma",), ("sigma",))
        spec = ParamSpec("sigma", "1", 0.1, (0.0, 5.0), "lognormal scale")
        return cls(_spec_number(ln["sigma"], f"{where}.lognormal.sigma", spec),
                   _int(d.get("samples", 20), f"{where}.samples", 1),
                   _plain(d.get("width", 2.0), f"{where}.width", 1e-6, 10.0))

    def to_dict(self) -> dict:
        return {"lognormal": {"sigma": _num_dict(self.sigma)}, "samples": self.samples,
                "width": self.width}


@dataclass(frozen=True)
class Particles:
    material: Material
    shape: Params
    layer: int = 0
    placement: str = "deposit"
    z_nm: Number = 0.0
    size_distribution: SizeDistribution | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"layer": self.layer, "placement": self.placement,
                               "z_nm": _num_dict(self.z_nm), "material": self.material.to_dict(),
                               "shape": self.shape.to_dict()}
        if self.size_distribution is not None:
            out["size_distribution"] = self.size_distribution.to_dict()
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


def _parse_orientation(d: Any, where: str) -> Orientation | RandomBins:
    if isinstance(d, Mapping) and "random_bins" in d:
        d = _keys(d, where, ("random_bins",))
        rb = _keys(d["random_bins"], f"{where}.random_bins", ("bins", "nonzero"))
        bins = _int(rb.get("bins", N_XI_BINS_DEFAULT), f"{where}.random_bins.bins", 1)
        nz = _pair(rb.get("nonzero", [1, 5]), f"{where}.random_bins.nonzero", int)
        if not 1 <= nz[0] <= nz[1] <= bins:
            raise UserError(f"need 1 <= {nz[0]} <= {nz[1]} <= bins", f"{where}.random_bins")
        return RandomBins(bins, nz)
    d = _keys(d, where, ("xi_deg", "weights"), ("xi_deg", "weights"))
    xi, w = d["xi_deg"], d["weights"]
    if not isinstance(xi, list) or not isinstance(w, list) or len(xi) != len(w) or not xi:
        raise UserError("xi_deg and weights must be non-empty lists of equal length", where)
    xis = tuple(_plain(v, f"{where}.xi_deg") for v in xi)
    ws = tuple(_plain(v, f"{where}.weights", 0.0, 1.0) for v in w)
    if sum(ws) <= 0.0 or sum(ws) > 1.0 + 1e-9:
        raise UserError(f"weights are coverages: their sum {sum(ws):g} must be in (0, 1]", where)
    return Orientation(xis, ws)


@dataclass(frozen=True)
class Interference:
    params: Params
    orientation: Orientation | RandomBins | None = None

    @property
    def kind(self) -> str:
        return self.params.kind

    @classmethod
    def parse(cls, d: Any, where: str) -> Interference:
        kind, body = _one_of(d, where, tuple(STRUCTURES))
        st = STRUCTURES[kind]
        w = f"{where}.{kind}"
        body = dict(_keys(body, w, [p.name for p in st.params] + (
            ["orientation"] if st.has_orientation else [])))
        orient = None
        if st.has_orientation:
            default = {"xi_deg": [0.0], "weights": [1.0]}
            orient = _parse_orientation(body.pop("orientation", default), f"{w}.orientation")
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
class Beam:
    wavelength_nm: Number = 0.1341
    alpha_i_deg: Number = 0.164
    intensity: Number = 1.0

    def to_dict(self) -> dict:
        return {"wavelength_nm": _num_dict(self.wavelength_nm),
                "alpha_i_deg": _num_dict(self.alpha_i_deg), "intensity": _num_dict(self.intensity)}


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
class Detector:
    """``orientation``: how the instrument's detector files store the image, overriding the
    format's default (:mod:`deepgisas.io.readers`): "top-down", "bottom-up", or "vertical"
    for a vertical-sample instrument (MARIA: file columns are alpha_f); None = the default."""

    geometry: Spherical | Rectangular = field(default_factory=Spherical)
    roi_px: tuple[int, int, int, int] | None = None
    mask_px: tuple[tuple[int, int, int, int], ...] = ()
    orientation: str | None = None

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
        return out


@dataclass(frozen=True)
class Experiment:
    """One experiment (concrete) or a template (some numbers are priors)."""

    beam: Beam
    detector: Detector
    sample: Sample
    use_average_materials: bool = True
    labels: tuple[str, ...] | None = None  # free-parameter paths a network predicts (templates)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"beam": self.beam.to_dict(), "detector": self.detector.to_dict(),
                               "sample": self.sample.to_dict()}
        if not self.use_average_materials:
            out["options"] = {"use_average_materials": False}
        if self.labels is not None:
            out["labels"] = list(self.labels)
        return out

    @property
    def free_parameters(self) -> dict[str, Prior | RandomBins]:
        """Path -> prior, for every number given as a prior (and a random_bins orientation)."""
        d = self.to_dict()
        d.pop("labels", None)
        return _free(d, "")

    @property
    def is_template(self) -> bool:
        return bool(self.free_parameters)


def _free(node: Any, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(node, Mapping):
        if len(node) == 1 and ("uniform" in node or "log_uniform" in node):
            return {path: parse_number(node, path)}
        if len(node) == 1 and "random_bins" in node:
            return {path: _parse_orientation(node, path)}
        for k, v in node.items():
            out.update(_free(v, f"{path}.{k}" if path else str(k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.update(_free(v, f"{path}.{i}"))
    return out


# ---------------------------------------------------------------- parsing


def _parse_layers(d: Any, where: str) -> tuple[Layer, ...]:
    if not isinstance(d, list) or len(d) < 2:
        raise UserError("need a list of at least two layers (ambient and substrate)", where)
    layers = []
    last = len(d) - 1
    for i, ld in enumerate(d):
        w = f"{where}.{i}"
        ld = _keys(ld, w, ("material", "thickness_nm", "roughness"), ("material",))
        inner = 0 < i < last
        if inner and "thickness_nm" not in ld:
            raise UserError("an inner layer needs thickness_nm", w)
        if not inner and "thickness_nm" in ld:
            raise UserError("the ambient and the substrate are semi-infinite: no thickness_nm", w)
        if i == 0 and "roughness" in ld:
            raise UserError("roughness belongs to a layer's top interface: not on the ambient", w)
        thick_spec = ParamSpec("thickness_nm", "nm", 10.0, (0.0, math.inf), "layer thickness")
        thick = _spec_number(ld["thickness_nm"], f"{w}.thickness_nm", thick_spec) if inner else None
        rough = Roughness.parse(ld["roughness"], f"{w}.roughness") if "roughness" in ld else None
        layers.append(Layer(Material.parse(ld["material"], f"{w}.material"), thick, rough))
    return tuple(layers)


def _parse_particles(d: Any, where: str, n_layers: int) -> Particles:
    d = _keys(d, where, ("layer", "placement", "z_nm", "material", "shape", "size_distribution"),
              ("material", "shape"))
    layer = _int(d.get("layer", 0), f"{where}.layer")
    if layer >= n_layers:
        raise UserError(f"layer {layer} does not exist (the sample has {n_layers})", where)
    placement = d.get("placement", "deposit")
    if placement not in ("deposit", "suspend"):
        raise UserError(f"placement must be deposit or suspend, got {placement!r}", where)
    if placement == "deposit" and layer == n_layers - 1:
        raise UserError("the substrate has no bottom interface to deposit on", where)
    if placement == "suspend" and layer == 0:
        raise UserError("the ambient has no top interface to suspend below", where)
    kind, body = _one_of(d["shape"], f"{where}.shape", tuple(SHAPES))
    sh = SHAPES[kind]
    shape = Params.parse(kind, body, f"{where}.shape.{kind}", sh.params,
                         [p.name for p in sh.params])
    size = (SizeDistribution.parse(d["size_distribution"], f"{where}.size_distribution")
            if "size_distribution" in d else None)
    z = parse_number(d.get("z_nm", 0.0), f"{where}.z_nm")
    return Particles(Material.parse(d["material"], f"{where}.material"), shape, layer, placement,
                     z, size)


def _parse_detector(d: Any, where: str) -> Detector:
    d = _keys(d, where, ("spherical", "rectangular", "roi_px", "mask_px", "orientation"))
    kinds = [k for k in ("spherical", "rectangular") if k in d]
    if len(kinds) != 1:
        raise UserError("give exactly one of spherical, rectangular", where)
    w = f"{where}.{kinds[0]}"
    geom: Spherical | Rectangular
    if kinds[0] == "spherical":
        s = _keys(d["spherical"], w, ("phi_deg", "alpha_deg", "shape"),
                  ("phi_deg", "alpha_deg", "shape"))
        phi, alpha = _pair(s["phi_deg"], f"{w}.phi_deg"), _pair(s["alpha_deg"], f"{w}.alpha_deg")
        for name, (lo, hi) in (("phi_deg", phi), ("alpha_deg", alpha)):
            if not -90.0 < lo < hi < 90.0:
                raise UserError(f"need -90 < min < max < 90, got [{lo:g}, {hi:g}]", f"{w}.{name}")
        geom = Spherical(phi, alpha, _pair(s["shape"], f"{w}.shape", int))
    else:
        r = _keys(d["rectangular"], w, ("shape", "pixel_size_mm", "distance_mm", "beam_center_px"),
                  ("shape", "pixel_size_mm", "distance_mm", "beam_center_px"))
        geom = Rectangular(_pair(r["shape"], f"{w}.shape", int),
                           _plain(r["pixel_size_mm"], f"{w}.pixel_size_mm", 1e-9),
                           _plain(r["distance_mm"], f"{w}.distance_mm", 1e-9),
                           _pair(r["beam_center_px"], f"{w}.beam_center_px"))
    rows, cols = geom.shape

    def rect(v: Any, wr: str) -> tuple[int, int, int, int]:
        if not isinstance(v, list) or len(v) != 4:
            raise UserError(f"expected [col0, row0, col1, row1], got {v!r}", wr)
        c0, r0, c1, r1 = (_int(x, wr) for x in v)
        if not (c0 < c1 <= cols and r0 < r1 <= rows):
            raise UserError(f"rectangle {v} is empty or outside the {rows} x {cols} detector", wr)
        return (c0, r0, c1, r1)

    roi = rect(d["roi_px"], f"{where}.roi_px") if "roi_px" in d else None
    masks = d.get("mask_px", [])
    if not isinstance(masks, list):
        raise UserError("expected a list of rectangles", f"{where}.mask_px")
    orientation = d.get("orientation")
    if orientation is not None and orientation not in ORIENTATIONS:
        raise UserError(f"unknown orientation {orientation!r} ({', '.join(ORIENTATIONS)})",
                        f"{where}.orientation")
    return Detector(geom, roi, tuple(rect(m, f"{where}.mask_px.{i}") for i, m in enumerate(masks)),
                    orientation)


def _parse_beam(d: Any) -> Beam:
    b = _keys(d, "beam", ("wavelength_nm", "alpha_i_deg", "intensity"),
              ("wavelength_nm", "alpha_i_deg"))
    return Beam(
        _spec_number(b["wavelength_nm"], "beam.wavelength_nm",
                     ParamSpec("wavelength_nm", "nm", 0.1, (0.0, 100.0), "wavelength")),
        _spec_number(b["alpha_i_deg"], "beam.alpha_i_deg",
                     ParamSpec("alpha_i_deg", "deg", 0.2, (0.0, 90.0), "incidence angle")),
        _spec_number(b.get("intensity", 1.0), "beam.intensity",
                     ParamSpec("intensity", "1", 1.0, (0.0, math.inf), "beam intensity")),
    )


def parse_instrument(d: Any, where: str = "instrument") -> tuple[Beam, Detector]:
    """Validate the beam and detector of a description dict (its sample, if any, is ignored)."""
    d = _keys(d, where, ("beam", "detector", "sample", "options", "labels"), ("beam", "detector"))
    return _parse_beam(d["beam"]), _parse_detector(d["detector"], "detector")


def parse_experiment(d: Any, where: str = "description") -> Experiment:
    """Validate a description dict (as read from a file) into an :class:`Experiment`."""
    d = _keys(d, where, ("beam", "detector", "sample", "options", "labels"),
              ("beam", "detector", "sample"))
    beam = _parse_beam(d["beam"])
    detector = _parse_detector(d["detector"], "detector")
    s = _keys(d["sample"], "sample", ("layers", "particles", "interference"), ("layers",))
    layers = _parse_layers(s["layers"], "sample.layers")
    particles = (_parse_particles(s["particles"], "sample.particles", len(layers))
                 if "particles" in s else None)
    interference = (Interference.parse(s["interference"], "sample.interference")
                    if "interference" in s else None)
    if (particles is None) != (interference is None):
        raise UserError("particles and interference go together", "sample")
    opts = _keys(d.get("options", {}), "options", ("use_average_materials",))
    avg = opts.get("use_average_materials", True)
    if not isinstance(avg, bool):
        raise UserError("expected true or false", "options.use_average_materials")
    exp = Experiment(beam, detector, Sample(layers, particles, interference), avg)
    if "labels" in d:
        exp = replace(exp, labels=_parse_labels(d["labels"], exp))
    if particles is not None:
        try:
            above, below = particle_slack(exp)
        except TypeError:  # a size or position is a prior: checked when sampled
            return exp
        if min(above, below) < -1e-9:
            raise UserError(f"the particles do not fit inside layer {particles.layer} "
                            f"({-min(above, below):.4g} nm too high)", "sample.particles")
    return exp


def free_name_map(free: Sequence[str]) -> dict[str, str]:
    """Name -> full path for free parameters: every path, plus its last component when unique."""
    last = [p.rsplit(".", 1)[-1] for p in free]
    out = {name: p for name, p in zip(last, free, strict=True) if last.count(name) == 1}
    out.update({p: p for p in free})
    return out


def _parse_labels(d: Any, exp: Experiment) -> tuple[str, ...]:
    """``labels: [name, ...]``: free parameters (paths or unique short names) to predict."""
    if not isinstance(d, list) or not d or not all(isinstance(v, str) for v in d):
        raise UserError("expected a non-empty list of free-parameter names", "labels")
    names = free_name_map(list(exp.free_parameters))
    out = []
    for v in d:
        if v not in names:
            raise UserError(f"{v!r} is not a free parameter of this template", "labels")
        out.append(names[v])
    if len(set(out)) != len(out):
        raise UserError("a free parameter is named twice", "labels")
    return tuple(out)


def particle_slack(e: Experiment) -> tuple[float, float]:
    """Thickness (nm) of the particles' layer above and below the particles' slice; negative
    when they stick out (BornAgain would cut them into pieces; we refuse). Raises TypeError
    while a relevant number is a prior."""
    pt = e.sample.particles
    assert pt is not None
    vals = {n: float(v) for n, v in pt.shape.values}  # type: ignore[arg-type]
    height = float(SHAPES[pt.shape.kind].height(vals))  # type: ignore[arg-type]
    sd = pt.size_distribution
    if sd is not None and float(sd.sigma) > 0:  # type: ignore[arg-type]
        height *= math.exp(sd.width * float(sd.sigma))  # type: ignore[arg-type]
    z = float(pt.z_nm)  # type: ignore[arg-type]
    layer = e.sample.layers[pt.layer]
    thick = float(layer.thickness_nm) if layer.thickness_nm is not None else math.inf  # type: ignore[arg-type]
    if pt.placement == "deposit":
        return thick - z - height, z
    return -z, thick + z - height
