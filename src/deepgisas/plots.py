"""Pictures people look at (PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepgisas.io.atomic import atomic_write
from deepgisas.sample import Experiment, Spherical


def save_detector_png(image: np.ndarray, experiment: Experiment, path: Path,
                      title: str = "") -> None:
    """Log-scale detector image; axes in degrees for a spherical detector, else pixels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    g = experiment.detector.geometry
    data = np.where(np.isfinite(image) & (image > 0), image, np.nan)
    positive = data[np.isfinite(data)]
    vmax = float(positive.max()) if positive.size else 1.0
    vmin = max(float(positive.min()) if positive.size else 1e-3, vmax * 1e-7)
    fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=110)
    if isinstance(g, Spherical):
        extent = (g.phi_deg[0], g.phi_deg[1], g.alpha_deg[0], g.alpha_deg[1])
        xlabel, ylabel = r"$\phi_f$ (deg)", r"$\alpha_f$ (deg)"
    else:
        extent = (0, g.shape[1], 0, g.shape[0])
        xlabel, ylabel = "column (px)", "row from the bottom (px)"
    im = ax.imshow(data, origin="lower", extent=extent, aspect="auto", cmap="inferno",
                   norm=LogNorm(vmin=vmin, vmax=vmax), interpolation="nearest")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="intensity (BornAgain units)")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
