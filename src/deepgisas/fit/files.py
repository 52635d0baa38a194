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

from pathlib import Path
from typing import Any

import numpy as np

from deepgisas.fit.gradient import FitConfig, FitResult, fit_image, network_starts
from deepgisas.io.atomic import atomic_write
from deepgisas.io.geometry import beam_spots
from deepgisas.io.images import ModelImages, image_for_model
from deepgisas.sample import Experiment, Spherical, parse_experiment, read_instrument
from deepgisas.units import DEG

SPOT_RADIUS_DEG = 0.06  # masked around the specular and direct beams (see the module docstring)


def network_start(model: str | Path, path: str | Path, inst: tuple[Any, Any] | None,
                  template: Experiment, image: np.ndarray, instrument: str = "instrument"
                  ) -> dict[str, Any]:
    """The model's prediction for the image file, given as ``image`` on the template's grid;
    read again onto the model's own grid when that differs, through ``inst`` (the parsed
    beam and detector of the file ``instrument``, or None)."""
    from deepgisas.models.store import load_model
    from deepgisas.predict import predict_arrays

    net, card = load_model(model)
    own = parse_experiment(card["template"], "model card")
    if own.detector != template.detector:
        image = image_for_model(path, own, inst, instrument)
    return predict_arrays(model, image[None], (net, card))[0]


def known_beam(template: Experiment, beam: Any) -> dict[str, float]:
    """Path -> value of the instrument ``beam``'s wavelength and incidence angle, for those
    that ``template`` leaves free (a fit holds them: the beam is known)."""
    fixed = {}
    for key in ("wavelength_nm", "alpha_i_deg"):
        path = f"beam.{key}"
        if path in template.free_parameters and isinstance(getattr(beam, key), int | float):
            fixed[path] = float(getattr(beam, key))
    return fixed


def spot_mask(template: Experiment, reader: ModelImages,
              spot_radius_deg: float | None = SPOT_RADIUS_DEG) -> np.ndarray | None:
    """True on the pixels of ``template``'s grid within ``spot_radius_deg`` of the specular
    and direct beams of images read by ``reader`` (None when it knows no alpha_i)."""
    if reader.alpha_i is None or not spot_radius_deg:
        return None
    return beam_spots(template.detector.geometry, reader.alpha_i, spot_radius_deg * DEG,
                      reader.target_alpha_i)


def fit_file(template: Experiment, path: str | Path, model: str | Path | None = None,
             instrument: str | Path | None = None, config: FitConfig | None = None,
             alpha_i_deg: float | None = None, spot_radius_deg: float | None = SPOT_RADIUS_DEG,
             refine_beam: bool = False) -> tuple[FitResult, np.ndarray, np.ndarray | None]:
    """Fit ``template`` to the image file at ``path``; returns the result, the image on the
    template's grid (NaN = masked) and the pixels masked around the specular and direct beams
    (bool, True = masked; None without ``instrument`` or with ``spot_radius_deg`` None or 0).
    ``instrument`` and ``alpha_i_deg`` as :func:`deepgisas.sample.read_instrument` takes them.
    With ``model``, the model's prediction is the start (a parameter model's mean and draws;
    an orientation model's distribution narrows the scan's basis) and is recorded in
    ``extra["network"]``. With ``instrument`` the beam is known:
    a wavelength or incidence angle that the template leaves free is held at the
    instrument's value (recorded in ``extra["fixed"]``), unless ``refine_beam``."""
    inst = read_instrument(instrument, alpha_i_deg) if instrument is not None else None
    reader = ModelImages(template, inst, str(instrument))
    image = reader(path)
    spots = spot_mask(template, reader, spot_radius_deg)
    start: Any = None
    network: dict[str, Any] | None = None
    if model is not None:
        network = network_start(model, path, inst, template, image, str(instrument))
        if "parameters" in network:
            start = network_starts(network, template, config)
        elif "probability" in network:
            start = network
    fixed = known_beam(template, inst[0]) if inst is not None and not refine_beam else {}
    result = fit_image(template, image, mask=None if spots is None else ~spots, start=start,
                       fixed=fixed, config=config)
    if fixed:
        result.extra["fixed"] = fixed
    if spots is not None:
        assert reader.alpha_i is not None
        result.extra["masked_spots"] = {"alpha_f_deg": [reader.alpha_i / DEG,
                                                        -reader.alpha_i / DEG],
                                        "radius_deg": spot_radius_deg,
                                        "pixels": int(spots.sum())}
    if network is not None:
        result.extra["network"] = network
    return result, image, spots


def residual_limit(resid: np.ndarray, percentile: float = 99.0) -> float:
    """The symmetric colour limit of a residual map: the ``percentile`` of |resid| over its
    finite pixels (so a few outliers do not wash out the rest), at least 0.01."""
    finite = np.abs(resid[np.isfinite(resid)])
    return max(float(np.percentile(finite, percentile)), 0.01) if finite.size else 1.0


def save_fit_png(data: np.ndarray, result: FitResult, template: Experiment, path: Path,
                 title: str = "", spots: np.ndarray | None = None) -> None:
    """Data, fit (same log colour scale) and log residual, with two lines of figures. ``spots``
    (bool, True = masked around the specular and direct beams) are outlined in cyan and left
    out of the fit and the residual; the residual's colour scale is symmetric at the 99th
    percentile of |residual| over the fitted pixels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    g = template.detector.geometry
    if isinstance(g, Spherical):
        extent = (g.phi_deg[0], g.phi_deg[1], g.alpha_deg[0], g.alpha_deg[1])
        xlabel, ylabel = r"$\phi_f$ (deg)", r"$\alpha_f$ (deg)"
    else:
        extent = (0, template.detector.shape[1], 0, template.detector.shape[0])
        xlabel, ylabel = "column (px)", "row from the bottom (px)"
    shown = np.where(np.isfinite(data) & (data > 0), data, np.nan)
    keep = np.isfinite(shown) if spots is None else np.isfinite(shown) & ~spots
    positive = shown[keep]  # the colour scale leaves the masked spots out
    vmax = float(positive.max()) if positive.size else 1.0
    vmin = max(float(np.percentile(positive, 1)) if positive.size else 1e-3, vmax * 1e-6)
    fit = np.where(np.isfinite(result.fitted) & (result.fitted > 0), result.fitted, np.nan)
    floor = vmax * 1e-4
    resid = np.log10((fit + floor) / (shown + floor))
    dist = "probability" in result.extra
    fig, axes = plt.subplots(1, 4 if dist else 3, figsize=(18 if dist else 13.5, 4.6), dpi=100)
    norm = LogNorm(vmin=vmin, vmax=vmax)
    for ax, img, name in ((axes[0], shown, "data"), (axes[1], fit, "fit")):
        im = ax.imshow(img, origin="lower", extent=extent, aspect="auto", cmap="inferno",
                       norm=norm, interpolation="nearest")
        ax.set_title(name)
    fig.colorbar(im, ax=axes[1], label="intensity (data units)", fraction=0.05)
    lim = residual_limit(resid)
    im = axes[2].imshow(resid, origin="lower", extent=extent, aspect="auto", cmap="RdBu_r",
                        vmin=-lim, vmax=lim, interpolation="nearest")
    axes[2].set_title("log10(fit / data)")
    fig.colorbar(im, ax=axes[2], fraction=0.05)
    for ax in axes[:3]:
        ax.set_xlabel(xlabel)
        if spots is not None and spots.any():
            ax.contour(spots.astype(float), levels=[0.5], colors="cyan", linewidths=0.8,
                       extent=extent, origin="lower")
    axes[0].set_ylabel(ylabel)
    if dist:
        _distribution_panel(axes[3], result)
    values = ", ".join(f"{k} {v:.4g}" + (f" ± {result.std[k]:.2g}" if np.isfinite(
        result.std.get(k, np.nan)) else "") for k, v in result.parameters.items())
    masked = ""
    if spots is not None and spots.any():
        radius = result.extra.get("masked_spots", {}).get("radius_deg")
        masked = (f"; cyan: {int(spots.sum())} px within {radius:g} deg of the specular "
                  "(and direct) beam, masked" if radius else "; cyan: masked")
    fig.suptitle(f"{title}  misfit {result.misfit:.4g}, {result.seconds:.1f} s{masked}\n"
                 f"{values}", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)


def _distribution_panel(ax: Any, result: FitResult) -> None:
    """The fitted xi distribution with its bootstrap +-1 std, and a network's if recorded."""
    xi = np.asarray(result.extra["xi_deg"])
    p = np.asarray(result.extra["probability"])
    sd = np.asarray(result.extra.get("probability_std", np.full(p.shape, np.nan)))
    width = float(xi[1] - xi[0]) if xi.size > 1 else 0.5
    ax.bar(xi, p, width=width, color="C0", label="fit")
    if np.isfinite(sd).any():
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
