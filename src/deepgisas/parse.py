"""Description dicts (as read from a YAML or JSON file, CONTRACT.md section 1) -> validated
:class:`~deepgisas.sample.Experiment` and instrument; every problem is a one-line UserError
naming its place in the description."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from deepgisas.constraints import Constraint, fixed_numbers, parse_constraints
from deepgisas.errors import UserError
from deepgisas.fill import check_fill, decides_fill
from deepgisas.io.readers import ORIENTATIONS
from deepgisas.physics.formfactors import SHAPES
from deepgisas.physics.params import ParamSpec
from deepgisas.placement import overlapped_layers
from deepgisas.priors import Prior, parse_number
from deepgisas.sample import (
    Beam,
    Core,
    Detector,
    Experiment,
    Interference,
    Layer,
    Material,
    Params,
    Particles,
    RandomBins,
    Rectangular,
    Resolution,
    Roughness,
    Sample,
    SizeDistribution,
    Spherical,
    Spread,
    free_name_map,
    parse_orientation,
)
from deepgisas.validate import integer, keys, one_of, pair, plain, spec_number

BEAM_PARAMS = (
    ParamSpec("wavelength_nm", "nm", 0.1, (0.0, 100.0), "wavelength"),
    ParamSpec("alpha_i_deg", "deg", 0.2, (0.0, 90.0), "incidence angle"),
    ParamSpec("intensity", "1", 1.0, (0.0, math.inf), "incident flux: the image's scale"),
    ParamSpec("phi_i_deg", "deg", 0.0, (-180.0, 180.0),
              "azimuthal incidence angle (ba.Beam's phi; optional, 0 when not given)"),
)
ANGLE_SPREAD_PARAMS = (
    ParamSpec("gaussian_std_deg", "deg", 0.01, (0.0, 10.0),
              "standard deviation of the angle (ba.DistributionGaussian)"),
)
WAVELENGTH_SPREAD_PARAMS = (
    ParamSpec("relative_std", "1", 0.01, (0.0, 0.5),
              "standard deviation / wavelength (ba.DistributionGaussian)"),
)
RESOLUTION_PARAMS = (
    ParamSpec("gaussian_sigma_deg", "deg", 0.01, (0.0, 10.0),
              "spherical detector: [along phi_f, along alpha_f] "
              "(ba.ResolutionFunction2DGaussian, in rad)"),
    ParamSpec("gaussian_sigma_mm", "mm", 0.1, (0.0, math.inf),
              "flat detector: [horizontal (x), vertical (y)] on the pixel grid"),
)
SPREAD_TABLES = {"alpha_i_deg": ANGLE_SPREAD_PARAMS, "phi_i_deg": ANGLE_SPREAD_PARAMS,
                 "wavelength": WAVELENGTH_SPREAD_PARAMS}  # beam.divergence.NAME
LAYER_PARAMS = (
    ParamSpec("thickness_nm", "nm", 10.0, (0.0, math.inf), "thickness of an inner layer"),
)
CORE_PARAMS = (
    ParamSpec("z_nm", "nm", 0.0, (0.0, math.inf),
              "height of the core's bottom above the shell's bottom (default: centred)",
              lo_open=False),
)
PARTICLE_PARAMS = (
    ParamSpec("z_nm", "nm", 0.0, (-math.inf, math.inf),
              "extra vertical shift of the particles (= BornAgain's Particle.translate(0, 0, "
              "z))"),
)

def _parse_layers(d: Any, where: str) -> tuple[Layer, ...]:
    if not isinstance(d, list) or len(d) < 2:
        raise UserError("need a list of at least two layers (ambient and substrate)", where)
    layers = []
    last = len(d) - 1
    for i, ld in enumerate(d):
        w = f"{where}.{i}"
        ld = keys(ld, w, ("material", "thickness_nm", "roughness"), ("material",))
        inner = 0 < i < last
        if inner and "thickness_nm" not in ld:
            raise UserError("an inner layer needs thickness_nm", w)
        if not inner and "thickness_nm" in ld:
            raise UserError("the ambient and the substrate are semi-infinite: no thickness_nm", w)
        if i == 0 and "roughness" in ld:
            raise UserError("roughness belongs to a layer's top interface: not on the ambient", w)
        thick = (spec_number(ld["thickness_nm"], f"{w}.thickness_nm", LAYER_PARAMS[0])
                 if inner else None)
        rough = Roughness.parse(ld["roughness"], f"{w}.roughness") if "roughness" in ld else None
        layers.append(Layer(Material.parse(ld["material"], f"{w}.material"), thick, rough))
    return tuple(layers)


def _parse_particles(d: Any, where: str, n_layers: int) -> Particles:
    d = keys(d, where, ("layer", "placement", "z_nm", "material", "shape", "size_distribution",
                        "core"), ("material", "shape"))
    layer = integer(d.get("layer", 0), f"{where}.layer")
    if layer >= n_layers:
        raise UserError(f"layer {layer} does not exist (the sample has {n_layers})", where)
    placement = d.get("placement", "deposit")
    if placement not in ("deposit", "suspend"):
        raise UserError(f"placement must be deposit or suspend, got {placement!r}", where)
    if placement == "deposit" and layer == n_layers - 1:
        raise UserError("the substrate has no bottom interface to deposit on", where)
    if placement == "suspend" and layer == 0:
        raise UserError("the ambient has no top interface to suspend below", where)
    shape = _parse_shape(d["shape"], f"{where}.shape")
    size = (SizeDistribution.parse(d["size_distribution"], f"{where}.size_distribution")
            if "size_distribution" in d else None)
    z = spec_number(d.get("z_nm", 0.0), f"{where}.z_nm", PARTICLE_PARAMS[0])
    core = _parse_core(d["core"], f"{where}.core", shape) if "core" in d else None
    return Particles(Material.parse(d["material"], f"{where}.material"), shape, layer, placement,
                     z, size, core)


def _parse_shape(d: Any, where: str) -> Params:
    kind, body = one_of(d, where, tuple(SHAPES))
    sh = SHAPES[kind]
    shape = Params.parse(kind, body, f"{where}.{kind}", sh.params, [p.name for p in sh.params])
    problem = sh.problem(dict(shape.values))
    if problem is not None:
        raise UserError(problem, f"{where}.{kind}")
    return shape


def _parse_core(d: Any, where: str, shell: Params) -> Core:
    """A core inside the shell ``shell``: its bottom and top within the shell's height."""
    d = keys(d, where, ("material", "shape", "z_nm"), ("material", "shape"))
    shape = _parse_shape(d["shape"], f"{where}.shape")
    z = spec_number(d["z_nm"], f"{where}.z_nm", CORE_PARAMS[0]) if "z_nm" in d else None
    outer = float(SHAPES[shell.kind].height(dict(shell.values)))  # type: ignore[arg-type]
    inner = float(SHAPES[shape.kind].height(dict(shape.values)))  # type: ignore[arg-type]
    bottom = (outer - inner) / 2.0 if z is None else z
    if inner > outer * (1.0 + 1e-12) or bottom + inner > outer * (1.0 + 1e-12):
        raise UserError(f"the core (height {inner:g} nm from {bottom:g} nm) does not fit in the "
                        f"shell's height {outer:g} nm", where)
    return Core(Material.parse(d["material"], f"{where}.material"), shape, z)


def _parse_detector(d: Any, where: str) -> Detector:
    d = keys(d, where, ("spherical", "rectangular", "roi_px", "mask_px", "orientation",
                        "resolution"))
    kinds = [k for k in ("spherical", "rectangular") if k in d]
    if len(kinds) != 1:
        raise UserError("give exactly one of spherical, rectangular", where)
    w = f"{where}.{kinds[0]}"
    geom: Spherical | Rectangular
    if kinds[0] == "spherical":
        s = keys(d["spherical"], w, ("phi_deg", "alpha_deg", "shape"),
                  ("phi_deg", "alpha_deg", "shape"))
        phi, alpha = pair(s["phi_deg"], f"{w}.phi_deg"), pair(s["alpha_deg"], f"{w}.alpha_deg")
        for name, (lo, hi) in (("phi_deg", phi), ("alpha_deg", alpha)):
            if not -90.0 < lo < hi < 90.0:
                raise UserError(f"need -90 < min < max < 90, got [{lo:g}, {hi:g}]", f"{w}.{name}")
        geom = Spherical(phi, alpha, pair(s["shape"], f"{w}.shape", int))
    else:
        r = keys(d["rectangular"], w, ("shape", "pixel_size_mm", "distance_mm", "beam_center_px"),
                  ("shape", "pixel_size_mm", "distance_mm", "beam_center_px"))
        geom = Rectangular(pair(r["shape"], f"{w}.shape", int),
                           plain(r["pixel_size_mm"], f"{w}.pixel_size_mm", 1e-9),
                           plain(r["distance_mm"], f"{w}.distance_mm", 1e-9),
                           pair(r["beam_center_px"], f"{w}.beam_center_px"))
    rows, cols = geom.shape

    def rect(v: Any, wr: str) -> tuple[int, int, int, int]:
        if not isinstance(v, list) or len(v) != 4:
            raise UserError(f"expected [col0, row0, col1, row1], got {v!r}", wr)
        c0, r0, c1, r1 = (integer(x, wr) for x in v)
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
    resolution = (_parse_resolution(d["resolution"], f"{where}.resolution", kinds[0])
                  if "resolution" in d else None)
    return Detector(geom, roi, tuple(rect(m, f"{where}.mask_px.{i}") for i, m in enumerate(masks)),
                    orientation, resolution)


def _parse_resolution(d: Any, where: str, kind: str) -> Resolution:
    spec = RESOLUTION_PARAMS[0] if kind == "spherical" else RESOLUTION_PARAMS[1]
    d = keys(d, where, [p.name for p in RESOLUTION_PARAMS])
    if spec.name not in d:
        raise UserError(f"a {kind} detector's resolution is given as {spec.name}: "
                        f"[{'along phi_f, along alpha_f' if kind == 'spherical' else 'x, y'}]",
                        where)
    v = d[spec.name]
    w = f"{where}.{spec.name}"
    if not isinstance(v, list) or len(v) != 2:
        raise UserError(f"expected a list of two numbers, got {v!r}", w)
    sigma = (spec_number(v[0], f"{w}.0", spec), spec_number(v[1], f"{w}.1", spec))
    return Resolution(sigma, spec.unit)


def _parse_spread(d: Any, where: str, name: str) -> Spread:
    spec = SPREAD_TABLES[name][0]
    d = keys(d, where, (spec.name, "samples", "width"), (spec.name,))
    return Spread(spec_number(d[spec.name], f"{where}.{spec.name}", spec),
                  integer(d.get("samples", 5), f"{where}.samples", 1),
                  plain(d.get("width", 2.0), f"{where}.width", 1e-6, 10.0))


def _parse_beam(d: Any) -> Beam:
    b = keys(d, "beam", ("wavelength_nm", "alpha_i_deg", "intensity", "phi_i_deg",
                         "divergence"), ("wavelength_nm", "alpha_i_deg"))
    wavelength, alpha_i, intensity, phi_i = BEAM_PARAMS
    div = keys(b.get("divergence", {}), "beam.divergence", tuple(SPREAD_TABLES))
    spreads = tuple((name, _parse_spread(div[name], f"beam.divergence.{name}", name))
                    for name in SPREAD_TABLES if name in div)
    return Beam(spec_number(b["wavelength_nm"], "beam.wavelength_nm", wavelength),
                spec_number(b["alpha_i_deg"], "beam.alpha_i_deg", alpha_i),
                spec_number(b.get("intensity", 1.0), "beam.intensity", intensity),
                spec_number(b["phi_i_deg"], "beam.phi_i_deg", phi_i) if "phi_i_deg" in b
                else None, spreads)


def parse_instrument(d: Any, where: str = "instrument") -> tuple[Beam, Detector]:
    """Validate the beam and detector of a description dict (its sample, if any, is ignored)."""
    d = keys(d, where, ("beam", "detector", "sample", "options", "labels", "constraints"),
             ("beam", "detector"))
    free = find_priors({"beam": d["beam"], "detector": d["detector"]})
    if free:
        raise UserError("an instrument's numbers are measured: give a number, not a prior",
                        next(iter(free)))
    return _parse_beam(d["beam"]), _parse_detector(d["detector"], "detector")


class Parsed(NamedTuple):
    """A validated description: its base experiment (every prior at its centre, a random_bins
    orientation as one domain at xi = 0), its priors by path, its labels and its
    constraints."""

    base: Experiment
    priors: dict[str, Prior | RandomBins]
    labels: tuple[str, ...] | None
    constraints: tuple[Constraint, ...] = ()


def find_priors(node: Any, path: str = "") -> dict[str, Prior | RandomBins]:
    """Path -> prior for every number of a description dict given as a prior, and a
    ``random_bins`` orientation."""
    out: dict[str, Prior | RandomBins] = {}
    if isinstance(node, dict):  # (a description is JSON: dicts and lists)
        if len(node) == 1 and ("uniform" in node or "log_uniform" in node):
            prior = parse_number(node, path)
            assert not isinstance(prior, float)
            return {path: prior}
        if len(node) == 1 and "random_bins" in node:
            bins = parse_orientation(node, path)
            assert isinstance(bins, RandomBins)
            return {path: bins}
        for k, v in node.items():
            out.update(find_priors(v, f"{path}.{k}" if path else str(k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.update(find_priors(v, f"{path}.{i}"))
    return out


def _shapes_free(priors: Mapping[str, Any], particles: Particles) -> bool:
    """Whether a number that decides where the particles sit is a prior (their fit in the
    layer is then checked for every draw instead)."""
    thickness = f"sample.layers.{particles.layer}.thickness_nm"
    return any(p == thickness or p == "sample.particles.z_nm" or p.startswith(
        ("sample.particles.shape.", "sample.particles.size_distribution.")) for p in priors)


def parse_description(d: Any, where: str = "description", fill: bool = True) -> Parsed:
    """Validate a description dict (as read from a file) whose numbers may be priors.

    With ``fill``, particles that overfill their slice (:func:`deepgisas.fill.check_fill`) are
    refused when no prior decides how full it is (else the draws reject them)."""
    d = keys(d, where, ("beam", "detector", "sample", "options", "labels", "constraints"),
              ("beam", "detector", "sample"))
    beam = _parse_beam(d["beam"])
    detector = _parse_detector(d["detector"], "detector")
    s = keys(d["sample"], "sample", ("layers", "particles", "interference"), ("layers",))
    layers = _parse_layers(s["layers"], "sample.layers")
    particles = (_parse_particles(s["particles"], "sample.particles", len(layers))
                 if "particles" in s else None)
    interference = (Interference.parse(s["interference"], "sample.interference")
                    if "interference" in s else None)
    if (particles is None) != (interference is None):
        raise UserError("particles and interference go together", "sample")
    opts = keys(d.get("options", {}), "options", ("use_average_materials",))
    avg = opts.get("use_average_materials", True)
    if not isinstance(avg, bool):
        raise UserError("expected true or false", "options.use_average_materials")
    exp = Experiment(beam, detector, Sample(layers, particles, interference), avg)
    priors = find_priors({k: v for k, v in d.items() if k not in ("labels", "constraints")})
    labels = _parse_labels(d["labels"], priors) if "labels" in d else None
    if (particles is not None and not _shapes_free(priors, particles)
            and [i for i, _, _ in overlapped_layers(exp)] != [particles.layer]):
        if particles.core is not None:
            raise UserError(f"core-shell particles must lie inside layer {particles.layer}: "
                            "they cross an interface", "sample.particles")
        if SHAPES[particles.shape.kind].section is None and exp.use_average_materials:
            raise UserError(f"the shape {particles.shape.kind!r} has no cross-sections: its "
                            "particles cannot cross an interface", "sample.particles")
    if fill and particles is not None and not any(decides_fill(p) for p in priors):
        check_fill(exp)
    constraints: tuple[Constraint, ...] = ()
    if "constraints" in d:
        fixed = {p: v for p, v in fixed_numbers(exp.to_dict()).items()
                 if not any(p == q or p.startswith(q + ".") for q in priors)}
        constraints = parse_constraints(d["constraints"], priors, fixed)
    return Parsed(exp, priors, labels, constraints)


def parse_experiment(d: Any, where: str = "description", fill: bool = True) -> Experiment:
    """Validate a description dict of a concrete experiment (no priors); ``fill``: refuse
    particles that overfill their slice (:func:`deepgisas.fill.check_fill`)."""
    parsed = parse_description(d, where, fill)
    if parsed.priors:
        raise UserError("this is a template with free parameters; give concrete numbers "
                        f"(free: {', '.join(parsed.priors)})", where)
    return parsed.base


def _parse_labels(d: Any, priors: Mapping[str, Any]) -> tuple[str, ...]:
    """``labels: [name, ...]``: free parameters (paths or unique short names) to predict."""
    if not isinstance(d, list) or not d or not all(isinstance(v, str) for v in d):
        raise UserError("expected a non-empty list of free-parameter names", "labels")
    names = free_name_map(list(priors))
    out = []
    for v in d:
        if v not in names:
            raise UserError(f"{v!r} is not a free parameter of this template", "labels")
        out.append(names[v])
    if len(set(out)) != len(out):
        raise UserError("a free parameter is named twice", "labels")
    return tuple(out)
