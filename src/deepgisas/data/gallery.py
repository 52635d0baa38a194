"""A picture of every augmentation step on one pattern: the clean pattern, each step alone,
and the talk's and the detector pipelines."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from deepgisas.data import augment as A
from deepgisas.data.augment import Compose, Scale
from deepgisas.io.atomic import atomic_write
from deepgisas.simulation import simulate_batch
from deepgisas.templates import Template, sample_experiments

if TYPE_CHECKING:
    from torch import Tensor

    from deepgisas.data.augment import Step

MASKED_COLOUR = "cyan"


def _panels(crop: int) -> list[tuple[str, Step, str | None]]:
    """(title, augmentation, colour-bar label of an output already on a log or standardised
    scale, or None for an intensity, which is shown as ln(I + 0.1) on the clean image's scale)."""
    return [
        ("Scale 10^U(-2,2)", A.Scale(), None),
        ("Poisson", A.Poisson(), None),
        ("Blur sigma U(0,1.5) px", A.Blur(), None),
        ("CenterShift <= 2 px", A.CenterShift(), None),
        ("SmoothBackground", A.SmoothBackground(), None),
        ("FlatBackground", A.FlatBackground(), None),
        ("BeamStop (0, masked)", A.BeamStop(), None),
        ("ModuleGaps Pilatus (-1, masked)", A.ModuleGaps(), None),
        ("DeadStrip 3-5 px (0, masked)", A.DeadStrip(), None),
        (f"RandomCrop {crop} px", A.RandomCrop(crop), None),
        ("Log(x + 0.1)", A.Log(), "ln(I + 0.1)"),
        ("Log, then Standardize", A.Compose((A.Log(), A.Standardize())), "standardised"),
        ("all: talk pipeline", A.talk_pipeline(crop), "network input"),
        ("all: detector pipeline", A.detector_pipeline(crop), "network input"),
    ]


def augmentation_gallery(template: Template, out: Path, seed: int = 0, name: str = "template"
                         ) -> tuple[int, tuple[int, int]]:
    """Draw one experiment of ``template`` (seeded), simulate it and write the PNG grid to
    ``out``: each augmentation step alone on it, masked pixels in ``MASKED_COLOUR``. Returns
    the number of panels and the pattern's shape."""
    experiment = sample_experiments(template, 1, seed=seed)[0]
    clean = torch.from_numpy(simulate_batch([experiment]))  # [1, H, W], NaN = masked
    mask = torch.isfinite(clean)
    clean = torch.where(mask, clean, torch.zeros_like(clean))
    rows, cols = clean.shape[1:]
    crop = max(1, round(min(rows, cols) * 224 / 256))  # the talk's 256 -> 224 ratio

    shown: list[tuple[str, Tensor, Tensor, str | None]] = [("clean", clean, mask, None)]
    for title, step, label in _panels(crop):
        pipe = step if isinstance(step, Compose) else Compose((step,))
        x, m = pipe(clean, mask, seed=seed)
        if isinstance(step, Scale) and mask.any():
            title += f": x {(x[mask].sum() / clean[mask].sum()).item():.3g}"
        shown.append((title, x, m, label))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("inferno").with_extremes(bad=MASKED_COLOUR)
    display_max = float(np.log(clean[mask].max().item() + 0.1)) if mask.any() else 1.0
    ncol = 5
    nrow = -(-len(shown) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.3 * ncol, 3.0 * nrow), dpi=90,
                             squeeze=False)
    for ax, (title, x, m, label) in zip(axes.flat, shown, strict=False):
        img = x[0].double().numpy()
        vmin = vmax = None
        if label is None:  # one log scale for every intensity panel: Scale and backgrounds show
            img = np.log(np.clip(img, 0, None) + 0.1)
            vmin, vmax, label = float(np.log(0.1)), display_max, "ln(I + 0.1)"
        data = np.ma.masked_where(~m[0].numpy(), img)
        im = ax.imshow(data, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax,
                       interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("column (px)", fontsize=7)
        ax.set_ylabel("row from the bottom (px)", fontsize=7)
        ax.tick_params(labelsize=6)
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        cb.ax.tick_params(labelsize=6)
        cb.set_label(label, fontsize=7)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    fig.suptitle(f"{name}, seed {seed}: each augmentation alone "
                 f"on the same pattern ({rows} x {cols} px); masked pixels in {MASKED_COLOUR}",
                 fontsize=11)
    fig.tight_layout()
    atomic_write(out, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
    return len(shown), (rows, cols)
