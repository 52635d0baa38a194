"""Fit a detector file: read it onto the template's grid, start from a model's prediction if
one is given, fit, and draw data, fit and residual side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepgisas.fit.gradient import FitConfig, FitResult, fit_image, network_starts
from deepgisas.io.atomic import atomic_write
from deepgisas.io.images import image_for_model
from deepgisas.sample import Experiment, Spherical, parse_experiment, read_instrument


def network_start(model: str | Path, path: str | Path, instrument: str | Path | None,
                  template: Experiment, image: np.ndarray) -> dict[str, Any]:
    """The model's prediction for the image file (read onto the model's own grid when that
    differs from the template's)."""
    from deepgisas.models.store import load_model
    from deepgisas.predict import predict_arrays

    net, card = load_model(model)
    own = parse_experiment(card["template"], "model card")
    if own.detector != template.detector:
        inst = read_instrument(instrument) if instrument is not None else None
        image = image_for_model(path, own, inst, str(instrument))
    return predict_arrays(model, image[None], (net, card))[0]


def fit_file(template: Experiment, path: str | Path, model: str | Path | None = None,
             instrument: str | Path | None = None, config: FitConfig | None = None
             ) -> tuple[FitResult, np.ndarray]:
    """Fit ``template`` to the image file at ``path``; returns the result and the image on the
    template's grid (NaN = masked). With ``model``, the model's prediction is the start (a
    parameter model's mean and draws; an orientation model's distribution narrows the scan's
    basis) and is recorded in ``extra["network"]``."""
    inst = read_instrument(instrument) if instrument is not None else None
    image = image_for_model(path, template, inst, str(instrument))
    start: Any = None
    network: dict[str, Any] | None = None
    if model is not None:
        network = network_start(model, path, instrument, template, image)
        if "parameters" in network:
            start = network_starts(network, template, config)
        elif "probability" in network:
            start = network
    result = fit_image(template, image, start=start, config=config)
    if network is not None:
        result.extra["network"] = network
    return result, image


def save_fit_png(data: np.ndarray, result: FitResult, template: Experiment, path: Path,
                 title: str = "") -> None:
    """Data, fit (same log colour scale) and log residual, with one line of figures."""
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
    positive = shown[np.isfinite(shown)]
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
    lim = float(np.nanmax(np.abs(resid))) if np.isfinite(resid).any() else 1.0
    im = axes[2].imshow(resid, origin="lower", extent=extent, aspect="auto", cmap="RdBu_r",
                        vmin=-lim, vmax=lim, interpolation="nearest")
    axes[2].set_title("log10(fit / data)")
    fig.colorbar(im, ax=axes[2], fraction=0.05)
    for ax in axes[:3]:
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel(ylabel)
    if dist:
        _distribution_panel(axes[3], result)
    values = ", ".join(f"{k} {v:.4g}" + (f" ± {result.std[k]:.2g}" if np.isfinite(
        result.std.get(k, np.nan)) else "") for k, v in result.parameters.items())
    fig.suptitle(f"{title}  misfit {result.misfit:.4g}, {result.seconds:.1f} s; {values}",
                 fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
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
