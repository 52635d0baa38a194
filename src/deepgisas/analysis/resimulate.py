"""Re-simulation: the pattern implied by a prediction, beside the input and their difference.

The prediction fixes the labels (the xi distribution: one domain per bin with weight >= 1e-3,
or the parameters); every other free parameter of the template (nuisance: beam, lattice,
radius, ...) is set to its prior's midpoint, or to a value given by the user. Intensities have
no common scale (a measured image counts photons), so the misfit is taken in log-intensity
after scaling the simulation to the input's total over the measured pixels:
``misfit = rms(log10(d + e) - log10(k s + e))`` over measured pixels, with ``k = sum d / sum s``
and ``e`` the input's 1st percentile of positive values (a floor for empty pixels). The same
misfit for a reference (the uniform distribution, as in the talk, or the prior midpoints for a
parameter model) says whether the network's answer explains the data better.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepgisas.analysis.common import (
    Model,
    Result,
    label_values,
    midpoints,
    parse_distribution,
    pyplot,
    save_figure,
    to_labels,
)
from deepgisas.simulation import simulate


def log_misfit(data: np.ndarray, sim: np.ndarray) -> tuple[float, np.ndarray]:
    """(misfit, residual image): the rms over measured pixels (finite in both) of the
    log10 difference after matching totals; the residual is NaN where not measured."""
    m = np.isfinite(data) & np.isfinite(sim)
    d, s = np.where(m, data, 0.0), np.where(m, sim, 0.0)
    k = d.sum() / s.sum() if s.sum() > 0 else 1.0
    pos = d[m & (d > 0)]
    e = float(np.percentile(pos, 1)) if pos.size else 1e-12
    r = np.log10(np.clip(d, 0, None) + e) - np.log10(np.clip(k * s, 0, None) + e)
    r = np.where(m, r, np.nan)
    return float(np.sqrt(np.nanmean(r**2))), r


def pattern_for(model: Model, values: np.ndarray, nuisance: dict[str, Any]) -> np.ndarray:
    """The simulated pattern [H, W] of one label vector with the given nuisance values. A
    parameter model's values beyond its priors (unit box [0, 1]) are simulated at the prior's
    bound: beyond it a value may not be physical (a negative radius)."""
    if model.kind != "distribution":
        values = np.clip(values, 0.0, 1.0)
    return simulate(model.template.at({**nuisance, **label_values(model, values)}))


def reference_labels(model: Model, reference: str) -> np.ndarray:
    """``uniform`` / ``XI:W,...`` for an orientation model; the prior midpoints (``uniform``)
    for a parameter model."""
    if model.kind == "distribution":
        return parse_distribution(reference, model.labels.bins)
    return np.full(len(model.labels.numeric), 0.5)


def _show(ax: Any, img: np.ndarray, title: str, **kw: Any) -> Any:
    im = ax.imshow(img, origin="lower", aspect="auto", interpolation="nearest", **kw)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def resimulate(model: Model, images: np.ndarray, names: list[str], out: Path,
               reference: str | None = "uniform", overrides: dict[str, float] | None = None
               ) -> Result:
    """``resimulate_K.png`` per input image [n, H, W] (model grid, NaN = masked): input,
    re-simulation, their log10 difference, and the reference's pattern and difference."""
    from deepgisas.analysis.common import outputs
    from deepgisas.predict import network_input

    nuisance = midpoints(model.template, overrides)
    nuisance = {p: v for p, v in nuisance.items()
                if p not in model.labels.numeric and p != model.labels.orientation}
    pred = to_labels(model, outputs(model.net, network_input(images, model.spec)))
    key = model.head.target
    ref_pattern = None
    if reference is not None:
        ref_pattern = pattern_for(model, reference_labels(model, reference), nuisance)
    plt = pyplot()
    paths, results = [], []
    for i, (img, name) in enumerate(zip(images, names, strict=True)):
        sim = pattern_for(model, pred[key][i], nuisance)
        mis, res = log_misfit(img, sim)
        row: dict[str, Any] = {"input": name, "misfit": mis}
        k = (np.nansum(img) / np.nansum(np.where(np.isfinite(img), sim, 0))) or 1.0
        floor = np.nanpercentile(np.where(img > 0, img, np.nan), 1)
        v = np.log10(np.clip(img, 0, None) + floor)
        lim = {"vmin": float(np.nanmin(v)), "vmax": float(np.nanmax(v)), "cmap": "inferno"}
        panels = [(v, "input (log10)", lim),
                  (np.log10(k * sim + floor), f"re-simulated, misfit {mis:.3f}", lim),
                  (res, "input - re-simulated", {"cmap": "RdBu_r", "vmin": -1, "vmax": 1})]
        if ref_pattern is not None:
            rmis, rres = log_misfit(img, ref_pattern)
            row["reference_misfit"] = rmis
            kr = np.nansum(img) / np.nansum(np.where(np.isfinite(img), ref_pattern, 0))
            panels += [(np.log10(kr * ref_pattern + floor),
                        f"reference {reference}, misfit {rmis:.3f}", lim),
                       (rres, "input - reference", {"cmap": "RdBu_r", "vmin": -1, "vmax": 1})]
        fig, axes = plt.subplots(1, len(panels), figsize=(3.1 * len(panels), 3.2),
                                 squeeze=False)
        for ax, (im_, title, kw) in zip(axes[0], panels, strict=True):
            handle = _show(ax, im_, title, **kw)
        fig.colorbar(handle, ax=axes[0, -1], label="log10 ratio")
        fig.suptitle(name, fontsize=9)
        fig.tight_layout()
        paths.append(save_figure(fig, out / f"resimulate_{i}.png"))
        if model.kind == "distribution":
            row["prediction"] = {"xi_deg": model.labels.xi_deg().tolist(),
                                 "probability": pred["dist"][i].tolist()}
        else:
            phys = model.labels.decode(pred["theta"][i:i + 1])
            row["prediction"] = {n: float(v[0]) for n, v in phys.items()}
        results.append(row)
    better = sum(r["misfit"] < r.get("reference_misfit", np.inf) for r in results)
    names_short = {model.labels.short.get(p, p): v for p, v in nuisance.items()}
    text = ("Input, the pattern re-simulated from the network's prediction (nuisance: "
            + ", ".join(f"{k} = {v:.4g}" for k, v in names_short.items())
            + "), and the log10 difference (red: input brighter)"
            + (f"; then the pattern of the reference ({reference}) and its difference. The "
               f"prediction fits better than the reference for {better} of {len(results)} "
               "inputs" if ref_pattern is not None else "")
            + ". Misfits (rms log10 ratio): "
            + ", ".join(f"{r['input']} {r['misfit']:.3f}"
                        + (f" (reference {r['reference_misfit']:.3f})"
                           if "reference_misfit" in r else "") for r in results) + ".")
    return Result("resimulate", paths, {"nuisance": names_short, "reference": reference,
                                        "results": results}, text)
