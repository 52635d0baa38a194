"""Fit a detector file: read it onto the template's grid, start from a model's prediction if
one is given, fit, and draw data, fit and residual side by side.

The simulator has no specular reflection, so with an instrument (which knows alpha_i) the
specular spot (alpha_f = alpha_i, phi_f = 0) and the direct beam, if on the grid, are masked:
every pixel within ``SPOT_RADIUS_DEG`` of them (at least one pixel pitch,
:func:`deepgisas.io.geometry.beam_spots`). A fixed angle, since the spot's size is set by the
beam's height and divergence, which no instrument file gives. 0.06 deg is 10 pixels of
0.172 mm at 1.73 m. On the GALAXI Pilatus image the spot is 0.06 deg wide (3e6 counts over a
3e3 background) and sits 0.008 deg below alpha_f = 0.275 deg (the instrument's alpha_i);
within 0.06 deg of alpha_i its wings fall, on the model's 0.02 deg grid, to twice the phi_f = 0
streak beside them. So the radius takes in the spot and an alpha_i error of about 0.01 deg, and
hides little else.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from deepgisas.fit.image import fit_image
from deepgisas.fit.problem import FitConfig, FitResult, network_starts
from deepgisas.io.atomic import atomic_write
from deepgisas.io.description import read_instrument
from deepgisas.io.geometry import beam_spots
from deepgisas.io.images import ModelImages
from deepgisas.io.instrument import instrument_resolution
from deepgisas.priors import LogUniform, Uniform
from deepgisas.sample import Beam, short_name
from deepgisas.templates import Template
from deepgisas.units import DEG

SPOT_RADIUS_DEG = 0.06  # masked around the specular and direct beams (see the module docstring)


class MaterialsWarning(UserWarning):
    """A template's material constants are used at another wavelength than its own."""


def network_start(model: str | Path, path: str | Path, inst: tuple[Any, Any] | None,
                  template: Template, image: np.ndarray, instrument: str = "instrument",
                  reader: ModelImages | None = None, keep_negative: bool = False
                  ) -> dict[str, Any]:
    """The model's prediction for the image file, given as ``image`` on the template's grid
    (read by ``reader``); read again onto the model's own grid, in q
    (:class:`~deepgisas.io.images.ModelImages`), through ``inst`` (the parsed beam and
    detector of the file ``instrument``, or None) when that grid or its beam differ. The
    result carries ``extrapolation``: what the model was not trained on."""
    from deepgisas.predict import Predictor

    predictor = Predictor(model)
    own = predictor.template
    own_reader = ModelImages(own, inst, instrument, keep_negative)
    if reader is None or not own_reader.same_grid(reader):
        if inst is not None or own.base.detector != template.base.detector:
            image = own_reader(path, warn=False)
    result = predictor(image[None])[0]
    result["extrapolation"] = own_reader.extrapolation
    return result


def instrument_template(template: Template, beam: Beam, refine_beam: bool = False
                        ) -> tuple[Template, dict[str, dict[str, Any]]]:
    """``template`` with the instrument's ``beam``: its wavelength and incidence angle replace
    the template's, fixed or free (with ``refine_beam``, a free one stays free within its
    prior). Returns the template and the record of each: ``{"value", "source":
    "instrument"}`` (and ``"template"``: the fixed value it replaced), or ``{"source":
    "fitted", "prior", "instrument"}``. Warns (:class:`MaterialsWarning`) when the wavelength
    replaces a different fixed one and the sample has materials: their constants are used as
    given."""
    record: dict[str, dict[str, Any]] = {}
    values: dict[str, float] = {}
    for key in ("wavelength_nm", "alpha_i_deg"):
        given = float(getattr(beam, key))
        prior = template.priors.get(f"beam.{key}")
        if refine_beam and isinstance(prior, Uniform | LogUniform):
            record[key] = {"source": "fitted", "prior": [prior.lo, prior.hi],
                           "instrument": given}
            continue
        values[key] = given
        record[key] = {"value": given, "source": "instrument"}
        mine = float(getattr(template.base.beam, key))
        if prior is None and mine != given:
            record[key]["template"] = mine
        if refine_beam:
            record[key]["note"] = "the template has no prior to refine it within"
    old = template.base.beam.wavelength_nm
    new = values.get("wavelength_nm")
    if (new is not None and "beam.wavelength_nm" not in template.priors
            and abs(new / old - 1) > 0.01 and _has_materials(template)):
        warnings.warn(f"the template's material constants (delta, beta) are for {old:g} nm "
                      f"and are used as given at the instrument's {new:g} nm; X-ray and "
                      "neutron deltas scale as the wavelength squared: give them at "
                      f"{new:g} nm", MaterialsWarning, stacklevel=2)
    return template.fix({f"beam.{k}": v for k, v in values.items()}), record


def _has_materials(template: Template) -> bool:
    s = template.base.sample
    mats = [layer.material for layer in s.layers]
    if s.particles is not None:
        mats.append(s.particles.material)
    return any(m.delta != 0 or m.beta != 0 for m in mats)


def spot_mask(template: Template, reader: ModelImages,
              spot_radius_deg: float | None = SPOT_RADIUS_DEG) -> np.ndarray | None:
    """True on the pixels of ``template``'s grid within ``spot_radius_deg`` of the specular
    and direct beams of images read by ``reader`` (None when it knows no alpha_i)."""
    if reader.target_alpha_i is None or not spot_radius_deg:
        return None
    # on the grid the spots sit at the grid's (matched) incidence angle
    return beam_spots(template.base.detector.geometry, reader.target_alpha_i,
                      spot_radius_deg * DEG, reader.target_alpha_i)


DISAGREE = 3.0  # network and fit further apart than this many combined std are flagged


def disagreement(network: dict[str, Any], result: FitResult) -> dict[str, float]:
    """Name -> (fit - network) / sqrt(std_fit^2 + std_network^2) for the parameters both
    give (a std that is missing or not finite counts as 0; NaN when both are)."""
    out = {}
    for name, v in network.get("parameters", {}).items():
        if name not in result.parameters:
            continue
        s_fit, s_net = result.std.get(name, np.nan), network.get("std", {}).get(name, np.nan)
        var = sum(float(x) ** 2 for x in (s_fit, s_net) if x is not None and np.isfinite(x))
        diff = result.parameters[name] - float(v)
        out[name] = float(diff / np.sqrt(var)) if var > 0 else float("nan")
    return out


def fit_file(template: Template, path: str | Path, model: str | Path | None = None,
             instrument: str | Path | None = None, config: FitConfig | None = None,
             alpha_i_deg: float | None = None, spot_radius_deg: float | None = SPOT_RADIUS_DEG,
             refine_beam: bool = False, orientation: str | None = None,
             keep_negative: bool = False, strict: bool = False
             ) -> tuple[FitResult, np.ndarray, np.ndarray | None]:
    """Fit ``template`` to the image file at ``path``; returns the result, the image on the
    template's grid (NaN = masked) and the pixels masked around the specular and direct beams
    (bool, True = masked; None without ``instrument`` or with ``spot_radius_deg`` None or 0).
    ``instrument``, ``alpha_i_deg`` and ``orientation`` as
    :func:`deepgisas.io.description.read_instrument` takes them.

    With ``instrument`` the beam is known: its wavelength and incidence angle replace the
    template's, fixed or free (:func:`instrument_template`; recorded in ``extra["beam"]``, and
    the ones taken from the instrument in ``extra["fixed"]``), unless ``refine_beam`` frees
    them within the template's priors; its azimuthal incidence, divergence and detector
    resolution, when it gives them, are simulated too (:func:`instrument_resolution`,
    recorded in ``extra["instrument_resolution"]``). With ``model``, the model's prediction
    is the start (a parameter model's mean and draws; an orientation model's distribution
    narrows the scan's basis) and is recorded in ``extra["network"]`` with its
    ``extrapolation`` (an error with ``strict``) and, in ``extra["disagreement"]``, the
    network-to-fit difference of each parameter in combined standard deviations
    (``extra["disagree"]``: those above 3).
    ``keep_negative`` keeps negative pixel values (background-subtracted data); the "auto"
    objective of a parameter fit is then "gaussian"
    (:func:`~deepgisas.fit.problem.choose_objective`)."""
    inst = (read_instrument(instrument, alpha_i_deg, orientation) if instrument is not None
            else None)
    beam_record: dict[str, dict[str, Any]] = {}
    resolution_record: dict[str, Any] = {}
    reading = fitting = template
    if inst is not None:
        fitting, beam_record = instrument_template(template, inst[0], refine_beam)
        # images are read at the instrument's beam (also while refine_beam fits it)
        reading = fitting.fix({"beam.wavelength_nm": inst[0].wavelength_nm,
                               "beam.alpha_i_deg": inst[0].alpha_i_deg})
        # the fit simulates with the instrument's divergence and detector resolution
        fitting, resolution_record = instrument_resolution(fitting, *inst)
    reader = ModelImages(reading, inst, str(instrument), keep_negative)
    image = reader(path)
    spots = spot_mask(reading, reader, spot_radius_deg)
    start: Any = None
    network: dict[str, Any] | None = None
    if model is not None:
        from deepgisas.predict import check_extrapolation

        network = network_start(model, path, inst, reading, image, str(instrument), reader,
                                keep_negative)
        check_extrapolation(network["extrapolation"], f"{model}", strict)
        if "parameters" in network:
            start = network_starts(network, fitting, config)
        elif "probability" in network:
            start = network
    result = fit_image(fitting, image, mask=None if spots is None else ~spots, start=start,
                       config=config)
    if beam_record:
        result.extra["beam"] = beam_record
        result.extra["fixed"] = {f"beam.{k}": r["value"] for k, r in beam_record.items()
                                 if r["source"] == "instrument"}
    if resolution_record:
        result.extra["instrument_resolution"] = resolution_record
    if spots is not None:
        assert reader.alpha_i is not None
        result.extra["masked_spots"] = {"alpha_f_deg": [reader.alpha_i / DEG,
                                                        -reader.alpha_i / DEG],
                                        "radius_deg": spot_radius_deg,
                                        "pixels": int(spots.sum())}
    if network is not None:
        result.extra["network"] = network
        if "parameters" in network:
            z = disagreement(network, result)
            result.extra["disagreement"] = z
            result.extra["disagree"] = [k for k, v in z.items() if abs(v) > DISAGREE]
    return result, image, spots


def residual_limit(resid: np.ndarray, percentile: float = 99.0) -> float:
    """The symmetric colour limit of a residual map: the ``percentile`` of |resid| over its
    finite pixels (so a few outliers do not wash out the rest), at least 0.01."""
    finite = np.abs(resid[np.isfinite(resid)])
    return max(float(np.percentile(finite, percentile)), 0.01) if finite.size else 1.0


def save_fit_png(data: np.ndarray, result: FitResult, template: Template, path: Path,
                 title: str = "", spots: np.ndarray | None = None, axes: str = "angles"
                 ) -> None:
    """Write :func:`fit_figure` to ``path``."""
    import matplotlib.pyplot as plt

    fig = fit_figure(data, result, template, title, spots, axes)
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)


def fit_figure(data: np.ndarray, result: FitResult, template: Template, title: str = "",
               spots: np.ndarray | None = None, axes: str = "angles") -> Any:
    """A matplotlib figure (Agg): data, fit (same log colour scale) and log residual, with
    two lines of figures, zoomed to the pixels that count
    (:func:`~deepgisas.answer_plots.view_box`: the region of interest, less masked borders),
    with ``axes`` "angles" (deg), "q" (1/nm) or "pixels"
    (:func:`~deepgisas.answer_plots.detector_edges`). ``spots`` (bool, True = masked around
    the specular and direct beams) are outlined in cyan and left out of the fit and the
    residual; the residual's colour scale is symmetric at the 99th percentile of |residual|
    over the fitted pixels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    from deepgisas.answer_plots import detector_edges, draw_detector, view_box

    box = view_box(data, template)
    beam = {short_name(k): v for k, v in result.extra.get("fixed", {}).items()}
    x, y, (xlabel, ylabel), _ = detector_edges(template, box, axes,
                                               beam | result.parameters)
    data, spots = data[box], None if spots is None else spots[box]
    shown = np.where(np.isfinite(data) & (data > 0), data, np.nan)
    keep = np.isfinite(shown) if spots is None else np.isfinite(shown) & ~spots
    positive = shown[keep]  # the colour scale leaves the masked spots out
    vmax = float(positive.max()) if positive.size else 1.0
    vmin = max(float(np.percentile(positive, 1)) if positive.size else 1e-3, vmax * 1e-6)
    fitted = result.fitted[box]
    fit = np.where(np.isfinite(fitted) & (fitted > 0), fitted, np.nan)
    floor = vmax * 1e-4
    counts = np.where(np.isfinite(data), np.maximum(data, 0.0), np.nan)
    resid = np.log10((fit + floor) / (counts + floor))
    dist = "probability" in result.extra
    fig, panels = plt.subplots(1, 4 if dist else 3, figsize=(18 if dist else 13.5, 4.6),
                               dpi=100)
    norm = LogNorm(vmin=vmin, vmax=vmax)
    floored = np.where(np.isfinite(data), np.maximum(data, vmin), np.nan)  # zero counts dark
    for ax, img, name in ((panels[0], floored, "data"), (panels[1], fit, "fit")):
        im = draw_detector(ax, img, x, y, cmap="inferno", norm=norm)
        ax.set_title(name)
    fig.colorbar(im, ax=panels[1], label="intensity (data units)", fraction=0.05)
    lim = residual_limit(resid)
    im = draw_detector(panels[2], resid, x, y, cmap="RdBu_r", vmin=-lim, vmax=lim)
    panels[2].set_title("log10(fit / data)")
    fig.colorbar(im, ax=panels[2], fraction=0.05)
    xc, yc = [(e[:-1, :-1] + e[1:, 1:]) / 2 for e in (x, y)]  # pixel centres
    for ax in panels[:3]:
        ax.set_xlabel(xlabel)
        if spots is not None and spots.any():
            ax.contour(xc, yc, spots.astype(float), levels=[0.5], colors="cyan",
                       linewidths=0.8)
    panels[0].set_ylabel(ylabel)
    if dist:
        _distribution_panel(panels[3], result)
    values = ", ".join(_value_text(result, k, v) for k, v in result.parameters.items())
    z = result.extra.get("disagreement", {})
    disagree = result.extra.get("disagree", [])
    if disagree:
        values += "\nnetwork and fit disagree (combined std): " + ", ".join(
            f"{k} {z[k]:+.1f}" for k in disagree)
    masked = ""
    if spots is not None and spots.any():
        radius = result.extra.get("masked_spots", {}).get("radius_deg")
        masked = (f"; cyan: {int(spots.sum())} px within {radius:g} deg of the specular "
                  "(and direct) beam, masked" if radius else "; cyan: masked")
    if np.isnan(floored).any():
        masked += "; grey: not fitted (masked)"
    fig.suptitle(f"{title}  misfit {result.misfit:.4g}, {result.seconds:.1f} s{masked}\n"
                 f"{values}", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.93 if not disagree else 0.90))
    return fig


def _value_text(result: FitResult, name: str, value: float) -> str:
    """"R 4.69 ± 0.05", or "sigma 0.4 (AT UPPER BOUND)" for a parameter at its prior's
    bound, whose std is no error."""
    flag = result.extra.get("at_bound", {}).get(name)
    if flag is not None:
        return f"{name} {value:.4g} (AT {flag['bound'].upper()} BOUND)"
    std = result.std.get(name, np.nan)
    return f"{name} {value:.4g}" + (f" ± {std:.2g}" if np.isfinite(std) else "")


def _distribution_panel(ax: Any, result: FitResult) -> None:
    """The fitted xi distribution: the posterior mean with its 90 % band (counts), or the fit
    with its bootstrap +-1 std; and a network's if recorded."""
    xi = np.asarray(result.extra["xi_deg"])
    p = np.asarray(result.extra["probability"])
    sd = np.asarray(result.extra.get("probability_std", np.full(p.shape, np.nan)))
    width = float(xi[1] - xi[0]) if xi.size > 1 else 0.5
    posterior = "probability_low" in result.extra
    ax.bar(xi, p, width=width, color="C0", label="posterior mean" if posterior else "fit")
    if posterior:
        ax.fill_between(xi, result.extra["probability_low"], result.extra["probability_high"],
                        step="mid", color="C0", alpha=0.3, lw=0, label="90 % band")
    elif np.isfinite(sd).any():
        shown = p > 0.005
        ax.errorbar(xi[shown], p[shown], yerr=sd[shown], fmt="none", ecolor="k", lw=0.8,
                    capsize=2, label="±1 std (bootstrap)")
    net = result.extra.get("network", {})
    if "probability" in net:
        ax.step(xi, np.asarray(net["probability"]), where="mid", color="C3", lw=0.8,
                label="network")
    ax.set_xlabel(r"$\xi$ (deg)")
    ax.set_ylabel("weight")
    ax.set_title("orientation distribution")
    ax.legend(fontsize=7)
