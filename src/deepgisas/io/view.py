"""A picture of a measured detector image: log scale, in pixels, angles (deg) or q (1/nm),
masked pixels in a distinct colour, with the direct beam, the specular peak, the Yoneda band
and the region of interest marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepgisas.errors import UserError
from deepgisas.io.atomic import atomic_write
from deepgisas.io.bundled import needs_instrument
from deepgisas.io.geometry import (
    Geometry,
    angles_to_pixel,
    critical_angle,
    pixel_to_angles,
    q_at,
)
from deepgisas.sample import Beam, Detector

AXES = ("pixels", "angles", "q")
MASK_COLOUR = "#00e5ff"  # cyan: masked pixels (gaps, dead, saturated, outside the ROI)
LABELS = {"pixels": ("column (px)", "row from the bottom (px)"),
          "angles": (r"$\phi_f$ (deg)", r"$\alpha_f$ (deg)"),
          "q": (r"$q_y$ (1/nm)", r"$q_z$ (1/nm)")}


class PlotAxes:
    """Maps (alpha_f, phi_f) in rad and pixel coordinates to the plot's x, y."""

    def __init__(self, axes: str, geometry: Geometry | None, alpha_i: float,
                 wavelength_nm: float) -> None:
        self.axes, self.g, self.ai, self.wl = axes, geometry, alpha_i, wavelength_nm

    def from_angles(self, alpha: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.axes == "angles":
            return np.degrees(phi), np.degrees(alpha)
        if self.axes == "q":
            _, qy, qz = q_at(alpha, phi, self.ai, self.wl)
            return qy, qz
        assert self.g is not None
        return angles_to_pixel(alpha, phi, self.g, self.ai)

    def from_pixels(self, col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.axes == "pixels" or self.g is None:
            return col, row
        return self.from_angles(*pixel_to_angles(col, row, self.g, self.ai))


def save_measured_png(data: np.ndarray, path: Path, beam: Beam | None = None,
                      detector: Detector | None = None, delta: float | None = None,
                      axes: str = "pixels", title: str = "") -> None:
    """Write a log-scale PNG of ``data`` [rows, cols] (row 0 = bottom, NaN = masked).

    With ``beam`` and ``detector`` the axes may be ``"angles"`` (deg) or ``"q"`` (1/nm), and
    the direct beam, the specular peak, the Yoneda band (needs the substrate's ``delta``) and
    the detector's region of interest are marked.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap, LogNorm

    if axes not in AXES:
        raise UserError(f"unknown axes {axes!r} ({', '.join(AXES)})")
    if axes != "pixels" and (beam is None or detector is None):
        raise UserError(f"axes {axes} needs an instrument (the geometry): {needs_instrument()}",
                        setting="axes")
    rows, cols = data.shape
    geom = detector.geometry if detector is not None else None
    ai = float(beam.alpha_i_deg) * np.pi / 180 if beam is not None else 0.0  # type: ignore[arg-type]
    wl = float(beam.wavelength_nm) if beam is not None else 1.0  # type: ignore[arg-type]
    tr = PlotAxes(axes, geom, ai, wl)
    cc, rr = np.meshgrid(np.arange(cols + 1, dtype=float), np.arange(rows + 1, dtype=float))
    x, y = tr.from_pixels(cc, rr)

    masked = ~np.isfinite(data)
    shown = np.where(~masked & (data > 0), data, np.nan)
    positive = shown[np.isfinite(shown)]
    vmax = float(positive.max()) if positive.size else 1.0
    vmin = max(float(np.percentile(positive, 1)) if positive.size else 1e-3, vmax * 1e-7)
    fig, ax = plt.subplots(figsize=(7.0, 6.0), dpi=110)
    ax.set_facecolor("black")
    mesh = ax.pcolormesh(x, y, np.ma.masked_invalid(shown), cmap="inferno",
                         norm=LogNorm(vmin=vmin, vmax=vmax), shading="flat", rasterized=True)
    if masked.any():
        ax.pcolormesh(x, y, np.ma.masked_where(~masked, np.ones_like(data)),
                      cmap=ListedColormap([MASK_COLOUR]), shading="flat", rasterized=True)
    ax.set_xlim(np.nanmin(x), np.nanmax(x))
    ax.set_ylim(np.nanmin(y), np.nanmax(y))
    handles = []
    if beam is not None and detector is not None:
        handles += _marks(ax, tr, detector, ai, delta, x, y)
    if masked.any():
        from matplotlib.patches import Patch

        handles.append(Patch(color=MASK_COLOUR, label=f"masked ({masked.mean():.1%})"))
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.7)
    ax.set_xlabel(LABELS[axes][0])
    ax.set_ylabel(LABELS[axes][1])
    ax.set_title(title, fontsize=9)
    fig.colorbar(mesh, ax=ax, label="counts")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)


def _marks(ax: Any, tr: PlotAxes, detector: Detector, ai: float, delta: float | None,
           x: np.ndarray, y: np.ndarray) -> list:
    """Direct beam, specular peak, Yoneda band and ROI outline; returns legend handles."""
    out = []
    bx, by = tr.from_angles(np.array(-ai), np.array(0.0))
    out += ax.plot([bx], [by], "x", color="white", ms=9, mew=2, label="direct beam")
    sx, sy = tr.from_angles(np.array(ai), np.array(0.0))
    out += ax.plot([sx], [sy], "o", mfc="none", color="lime", ms=11, mew=1.5,
                   label=rf"specular ($\alpha_f$ = {np.degrees(ai):.3f} deg)")
    rows, cols = detector.shape
    if delta is not None and delta > 0:
        ac = critical_angle(delta)
        _, phi = pixel_to_angles(np.linspace(0, cols, 200), np.full(200, rows / 2.0),
                                 detector.geometry, ai)
        yx, yy = tr.from_angles(np.full(200, ac), phi)
        out += ax.plot(yx, yy, "--", color="deepskyblue", lw=1.2,
                       label=rf"Yoneda ($\alpha_c$ = {np.degrees(ac):.3f} deg)")
    if detector.roi_px is not None:
        c0, r0, c1, r1 = detector.roi_px
        n = 50
        col = np.concatenate([np.linspace(c0, c1, n), np.full(n, c1), np.linspace(c1, c0, n),
                              np.full(n, c0)])
        row = np.concatenate([np.full(n, r0), np.linspace(r0, r1, n), np.full(n, r1),
                              np.linspace(r1, r0, n)])
        rx, ry = tr.from_pixels(col, row)
        out += ax.plot(rx, ry, "-", color="yellow", lw=1.2, label="region of interest")
    return out
