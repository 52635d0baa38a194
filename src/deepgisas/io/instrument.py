"""The instrument against a model: which beam a measured image corresponds to on the model's
grid, and what lies outside what the model was trained on.

An image measured at wavelength lambda_s and incidence angle alpha_i,s is put on a model's grid
*in q*: each grid pixel, seen at the model's wavelength lambda_t, takes the measured intensity
at the same q_y = k u_y and the same exit wave-vector component k_f,z = k u_z (k = 2 pi /
lambda), i.e. the measured direction u_s = (lambda_s / lambda_t) u_t in y and z. The incoming
side is matched by the *equivalent incidence angle* at the model's wavelength,

    sin alpha_i,t = (lambda_t / lambda_s) sin alpha_i,s,

so that k_i,z, and with it q_z = k_i,z + k_f,z, are the same too. With X-ray or neutron
refractive decrements that scale as lambda^2 (far from absorption edges), k_c = k sqrt(2 delta)
is the same at both wavelengths, so the DWBA pattern in (q_y, k_i,z, k_f,z) is the one the
model would have seen at its own wavelength. When the wavelengths are equal the mapping is
the plain one, in angles.

The model's wavelength lambda_t is its template's (a fixed number), or the instrument's when
the template's wavelength is a prior that contains it (else the nearest end of that prior).
Its incidence angle is the template's fixed number, or the equivalent angle when the template's
is a prior. What the model never saw is listed as *extrapolation*: an equivalent incidence
angle outside its prior (or off its fixed value by more than 1 %), and a grid that reaches
outside the measured detector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from deepgisas.errors import UserError
from deepgisas.io.geometry import beam_angles
from deepgisas.priors import LogUniform, Uniform
from deepgisas.sample import Beam, Detector, Rectangular, Resolution, Spherical
from deepgisas.templates import Template, parse_template
from deepgisas.units import DEG

FIXED_TOLERANCE = 0.01  # relative: a fixed incidence angle off by more is extrapolation
OUTSIDE_TOLERANCE = 0.01  # fraction of the grid outside the measured detector that is flagged


@dataclass(frozen=True)
class BeamMatch:
    """The instrument's beam (``wavelength_nm``, ``alpha_i`` in rad) and the beam of the
    model's grid it is read onto (``target_wavelength_nm``, ``target_alpha_i``); ``ratio`` =
    lambda_s / lambda_t scales a grid direction's y and z components onto the instrument's;
    ``extrapolation``: what the model was not trained on (see :func:`extrapolation_entry`)."""

    wavelength_nm: float
    alpha_i: float
    target_wavelength_nm: float
    target_alpha_i: float
    extrapolation: tuple[dict[str, Any], ...] = field(default=())

    @property
    def ratio(self) -> float:
        return self.wavelength_nm / self.target_wavelength_nm

    def to_dict(self) -> dict[str, Any]:
        """The JSON record: the instrument's beam and the beam the grid is read at."""
        return {"wavelength_nm": self.wavelength_nm, "alpha_i_deg": self.alpha_i / DEG,
                "model_wavelength_nm": self.target_wavelength_nm,
                "model_alpha_i_deg": self.target_alpha_i / DEG}


def extrapolation_entry(what: str, value: float, trained: Any, by: float,
                        note: str = "") -> dict[str, Any]:
    """``{"what", "value", "trained", "by"[, "note"]}``: ``value`` lies ``by`` outside
    ``trained`` (a [lo, hi] range or one number), in ``what``'s unit."""
    out: dict[str, Any] = {"what": what, "value": value, "trained": trained, "by": by}
    if note:
        out["note"] = note
    return out


def describe(entry: dict[str, Any]) -> str:
    """One line for an extrapolation entry."""
    trained = entry["trained"]
    where = (f"[{trained[0]:.4g}, {trained[1]:.4g}]" if isinstance(trained, list | tuple)
             else f"{trained:.4g}")
    text = (f"{entry['what']} {entry['value']:.4g} is outside what the model was trained on "
            f"({where}) by {entry['by']:.3g}")
    return text + (f" ({entry['note']})" if entry.get("note") else "")


def _range(template: Template, path: str) -> tuple[float, float] | None:
    prior = template.priors.get(path)
    if isinstance(prior, Uniform | LogUniform):
        return float(prior.lo), float(prior.hi)
    return None


def match_beam(template: Template, beam: Beam, where: str = "instrument") -> BeamMatch:
    """The beam of ``template``'s grid that the instrument's ``beam`` is read onto, with the
    incidence angle's extrapolation (see the module docstring)."""
    try:
        alpha_s, lam_s = beam_angles(beam)
    except UserError as exc:
        raise exc.located(where) from None
    lam_range = _range(template, "beam.wavelength_nm")
    if lam_range is None:
        lam_t = template.base.beam.wavelength_nm
    else:
        lam_t = min(max(lam_s, lam_range[0]), lam_range[1])
    sin_t = lam_t / lam_s * math.sin(alpha_s)
    extrapolation = []
    note = (f"the incidence angle at {lam_t:.4g} nm equivalent to {alpha_s / DEG:.4g} deg at "
            f"{lam_s:.4g} nm" if abs(lam_t - lam_s) > 1e-9 * lam_t else "")
    if sin_t >= 1.0:
        raise UserError(f"no incidence angle at the model's wavelength {lam_t:g} nm matches "
                        f"{alpha_s / DEG:g} deg at {lam_s:g} nm", where)
    alpha_eq = math.asin(sin_t)
    ai_range = _range(template, "beam.alpha_i_deg")
    if ai_range is None:
        alpha_t = template.base.beam.alpha_i_deg * DEG
        if abs(alpha_eq - alpha_t) > FIXED_TOLERANCE * alpha_t:
            extrapolation.append(extrapolation_entry(
                "beam.alpha_i_deg", alpha_eq / DEG, alpha_t / DEG,
                abs(alpha_eq - alpha_t) / DEG, note))
    else:
        alpha_t = alpha_eq
        lo, hi = ai_range
        deg = alpha_eq / DEG
        if not lo - 1e-9 <= deg <= hi + 1e-9:
            extrapolation.append(extrapolation_entry(
                "beam.alpha_i_deg", deg, [lo, hi], lo - deg if deg < lo else deg - hi, note))
    return BeamMatch(lam_s, alpha_s, lam_t, alpha_t, tuple(extrapolation))


def outside_entry(fraction: float) -> dict[str, Any] | None:
    """The extrapolation entry of a grid ``fraction`` of which lies outside the measured
    detector (None up to ``OUTSIDE_TOLERANCE``)."""
    if fraction <= OUTSIDE_TOLERANCE:
        return None
    return extrapolation_entry("detector.outside_fraction", fraction, 0.0, fraction,
                               "part of the model's grid (in q) lies outside the measured "
                               "detector and is masked")


def resolution_on(resolution: Resolution, source: Spherical | Rectangular,
                  target: Spherical | Rectangular) -> Resolution:
    """A detector resolution given on the ``source`` detector expressed on the ``target``
    detector's axes: degrees on a spherical one, millimetres on a flat one (mm / distance =
    rad near the direct beam, the small-angle scale of a flat detector)."""
    if resolution.unit == "deg":
        rad = [s * DEG for s in resolution.sigma]
    else:
        assert isinstance(source, Rectangular)
        rad = [s / source.distance_mm for s in resolution.sigma]
    if isinstance(target, Spherical):
        return Resolution((rad[0] / DEG, rad[1] / DEG), "deg")
    return Resolution((rad[0] * target.distance_mm, rad[1] * target.distance_mm), "mm")


def instrument_resolution(template: Template, beam: Beam, detector: Detector
                          ) -> tuple[Template, dict[str, Any]]:
    """``template`` with the instrument's azimuthal incidence, beam divergence and detector
    resolution (each replacing the template's when the instrument gives it; the resolution on
    the template's detector, :func:`resolution_on`), and the record of what was taken. The
    template itself when the instrument gives none of them."""
    record: dict[str, Any] = {}
    tree = template.to_dict()
    inst = {"beam": beam.to_dict(), "detector": detector.to_dict()}
    for key in ("phi_i_deg", "divergence"):
        if key in inst["beam"]:
            tree["beam"][key] = record[key] = inst["beam"][key]
    if detector.resolution is not None:
        res = resolution_on(detector.resolution, detector.geometry,
                            template.base.detector.geometry)
        tree["detector"]["resolution"] = record["resolution"] = res.to_dict()
    if not record:
        return template, record
    return parse_template(tree, "template with the instrument's resolution"), record
