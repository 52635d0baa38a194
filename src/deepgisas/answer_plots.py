"""Pictures of answers: detector panels zoomed to the pixels that count, in angles, q or
pixels, and ``predict``'s answer (the xi distribution, or the parameters against their
priors).

Detector images here are on a template's grid: [rows, cols], row 0 = bottom, NaN = masked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepgisas.io.atomic import atomic_write
from deepgisas.io.images import detector_masks
from deepgisas.io.view import LABELS, PlotAxes
from deepgisas.priors import LogUniform, Uniform
from deepgisas.sample import short_name
from deepgisas.templates import Template
from deepgisas.units import DEG


def view_box(data: np.ndarray, template: Template) -> tuple[slice, slice]:
    """(rows, columns): the smallest box holding every pixel that counts, finite in ``data``
    and inside the detector's region of interest and outside its masks; the whole image when
    none counts."""
    inside = np.isfinite(detector_masks(np.asarray(data, dtype=np.float64),
                                        template.base.detector))
    if not inside.any():
        return slice(0, data.shape[0]), slice(0, data.shape[1])
    rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def beam_numbers(template: Template, values: Mapping[str, float] | None = None
                 ) -> tuple[float | None, float | None]:
    """(alpha_i in rad, wavelength in nm): the value ``values`` gives under the short name
    (fitted, predicted or an instrument's), else ``template``'s fixed number, else None."""
    out: list[float | None] = []
    for key in ("alpha_i_deg", "wavelength_nm"):
        v = (values or {}).get(key)
        if v is None and f"beam.{key}" not in template.priors:
            v = getattr(template.base.beam, key)
        out.append(float(v) if isinstance(v, int | float) else None)
    return (None if out[0] is None else out[0] * DEG), out[1]


def detector_edges(template: Template, box: tuple[slice, slice], axes: str = "angles",
                   values: Mapping[str, float] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, tuple[str, str], str]:
    """Pixel-edge coordinates x, y [h + 1, w + 1] of the ``box`` of ``template``'s detector in
    ``axes`` ("angles": deg, "q": 1/nm, "pixels"), their labels, and the axes used (q needs
    the incidence angle and the wavelength: angles without them; angles on a flat detector
    need the incidence angle: pixels without it)."""
    ai, wl = beam_numbers(template, values)
    g = template.base.detector.geometry
    flat = not hasattr(g, "phi_deg")
    if axes == "q" and (ai is None or wl is None):
        axes = "angles"
    if axes == "angles" and flat and ai is None:
        axes = "pixels"
    tr = PlotAxes(axes, g, ai or 0.0, wl or 1.0)
    rows, cols = box
    cc, rr = np.meshgrid(np.arange(cols.start, cols.stop + 1, dtype=float),
                         np.arange(rows.start, rows.stop + 1, dtype=float))
    x, y = tr.from_pixels(cc, rr)
    return np.asarray(x), np.asarray(y), LABELS[axes], axes


def draw_detector(ax: Any, image: np.ndarray, x: np.ndarray, y: np.ndarray,
                  **kwargs: Any) -> Any:
    """``image`` (the box's pixels) on edges ``x``, ``y``, limits at the box's extent."""
    mesh = ax.pcolormesh(x, y, np.ma.masked_invalid(image), shading="flat", rasterized=True,
                         **kwargs)
    ax.set_xlim(float(np.nanmin(x)), float(np.nanmax(x)))
    ax.set_ylim(float(np.nanmin(y)), float(np.nanmax(y)))
    ax.set_facecolor("#d8d8d8")  # masked (NaN) pixels: light grey
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(5))
    return mesh


def prior_ranges(template: Template) -> dict[str, tuple[float, float, bool]]:
    """Short name -> (lo, hi, logarithmic) of each uniform or log-uniform prior."""
    return {short_name(p): (float(q.lo), float(q.hi), isinstance(q, LogUniform))
            for p, q in template.priors.items() if isinstance(q, Uniform | LogUniform)}


def save_predict_png(output: Mapping[str, Any], images: np.ndarray, template: Template,
                     path: Path, axes: str = "angles") -> None:
    """Write :func:`predict_figure` to ``path``."""
    import matplotlib.pyplot as plt

    fig = predict_figure(output, images, template, axes)
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)


def predict_figure(output: Mapping[str, Any], images: np.ndarray, template: Template,
                   axes: str = "angles") -> Any:
    """A matplotlib figure (Agg) of ``predict``'s JSON ``output`` for ``images``
    [n, rows, cols] as the model saw them (on ``template``'s grid). One image: the image
    beside its answer, the xi distribution or each parameter with its +-1 std against its
    prior's range. Several: the xi distributions as a map over the images, or each
    parameter with its std against the image's index, its prior's range shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    results = list(output["results"])
    orientation = "probability" in results[0]
    names = [] if orientation else list(results[0]["parameters"])
    priors = prior_ranges(template)
    if len(results) == 1:
        r = results[0]
        fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.6), dpi=100,
                                          gridspec_kw={"width_ratios": [1.1, 1]})
        inst = output.get("instrument", {})  # the beam the image was read onto the grid at
        beam = {k: inst[f"model_{k}"] for k in ("alpha_i_deg", "wavelength_nm")
                if f"model_{k}" in inst}
        _image_panel(fig, left, images[0], template, axes, beam | r.get("parameters", {}))
        if orientation:
            _distribution(right, r)
        else:
            _parameter_panel(right, r, names, priors)
        title = f"{output.get('model', '')} on {Path(str(r['image'])).name}"
    else:
        n = len(results)
        if orientation:
            fig, ax = plt.subplots(figsize=(9, 4.8), dpi=100)
            p = np.array([r["probability"] for r in results])
            xi = np.asarray(results[0]["xi_deg"])
            step = float(xi[1] - xi[0])
            im = ax.imshow(p.T, origin="lower", aspect="auto", cmap="viridis",
                           extent=(-0.5, n - 0.5, xi[0] - step / 2, xi[-1] + step / 2))
            fig.colorbar(im, ax=ax, label="weight")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("image (index in the JSON)")
            ax.set_ylabel(r"$\xi$ (deg)")
        else:
            fig, axs = plt.subplots(len(names), 1, figsize=(9, 1.2 + 1.6 * len(names)),
                                    dpi=100, sharex=True, squeeze=False)
            idx = np.arange(n)
            for ax, k in zip(axs[:, 0], names, strict=True):
                v = np.array([r["parameters"][k] for r in results], dtype=float)
                s = np.array([r["std"].get(k) or np.nan for r in results], dtype=float)
                ax.errorbar(idx, v, yerr=s, fmt="o", ms=3, color="C0", ecolor="C0", capsize=2)
                if k in priors:
                    lo, hi, log = priors[k]
                    ax.axhspan(lo, hi, color="0.9", zorder=0, label="prior")
                    ax.set_yscale("log" if log else "linear")
                ax.set_ylabel(k, fontsize=8)
            axs[-1, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
            axs[-1, 0].set_xlabel("image (index in the JSON)")
        title = f"{output.get('model', '')}: {n} images"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _image_panel(fig: Any, ax: Any, image: np.ndarray, template: Template, axes: str,
                 values: Mapping[str, float] | None) -> None:
    from matplotlib.colors import LogNorm

    box = view_box(image, template)
    x, y, labels, _ = detector_edges(template, box, axes, values)
    shown = image[box]
    positive = shown[np.isfinite(shown) & (shown > 0)]
    vmax = float(positive.max()) if positive.size else 1.0
    vmin = max(float(np.percentile(positive, 1)) if positive.size else 1e-3, vmax * 1e-6)
    # zero or negative pixels at the bottom of the scale; grey is masked
    mesh = draw_detector(ax, np.maximum(shown, vmin), x, y, cmap="inferno",
                         norm=LogNorm(vmin=vmin, vmax=vmax))
    fig.colorbar(mesh, ax=ax, label="intensity (as the model saw it)", fraction=0.05)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title("image on the model's grid", fontsize=9)


def _distribution(ax: Any, r: Mapping[str, Any]) -> None:
    xi, p = np.asarray(r["xi_deg"]), np.asarray(r["probability"])
    step = float(xi[1] - xi[0]) if xi.size > 1 else 0.5
    ax.bar(xi, p, width=step, color="C0", label="network")
    if "probability_low" in r:
        ax.fill_between(xi, r["probability_low"], r["probability_high"], step="mid",
                        color="C0", alpha=0.3, lw=0, label="90 % band")
    ax.set_xlim(xi[0] - step / 2, xi[-1] + step / 2)
    ax.set_xlabel(r"$\xi$ (deg)")
    ax.set_ylabel("weight")
    ax.set_title("orientation distribution", fontsize=9)
    ax.legend(fontsize=8)


def _parameter_panel(ax: Any, r: Mapping[str, Any], names: Sequence[str],
                     priors: Mapping[str, tuple[float, float, bool]]) -> None:
    """Each parameter on its prior's range mapped to [0, 1] (log for a log-uniform prior):
    the value with its +-1 std, the numbers beside it."""
    for i, k in enumerate(names):
        v, s = float(r["parameters"][k]), r["std"].get(k)
        s = float(s) if s is not None else float("nan")
        row = len(names) - 1 - i
        ax.plot([0, 1], [row, row], color="0.8", lw=6, solid_capstyle="butt", zorder=0)
        if k in priors:
            lo, hi, log = priors[k]

            def unit(u: float, lo: float = lo, hi: float = hi, log: bool = log) -> float:
                return (float(np.log(u / lo) / np.log(hi / lo)) if log and u > 0
                        else (u - lo) / (hi - lo))

            lo_s, hi_s = (v - s, v + s) if np.isfinite(s) else (v, v)
            ax.plot([unit(max(lo_s, lo * 1e-9) if log else lo_s), unit(hi_s)], [row, row],
                    color="C0", lw=2)
            ax.plot([unit(v)], [row], "o", color="C0")
            ax.text(-0.02, row, f"{lo:g}", ha="right", va="center", fontsize=7, color="0.4")
            ax.text(1.02, row, f"{hi:g}", ha="left", va="center", fontsize=7, color="0.4")
        err = f" ± {s:.2g}" if np.isfinite(s) else ""
        ax.text(0.5, row + 0.28, f"{k} = {v:.4g}{err}", ha="center", fontsize=8)
    ax.set_xlim(-0.15, 1.15)
    ax.set_ylim(-0.6, len(names) - 0.3)
    ax.set_yticks([])
    ax.set_xticks([0, 1], ["prior's low end", "high end"])
    ax.set_title("parameters (±1 std) on their priors' ranges", fontsize=9)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
