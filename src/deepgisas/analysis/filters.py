"""The first convolution's filters (conv0) as images: what a network learnt to look for first
(the talk compared conv0 after GISAS training with conv0 after ImageNet training)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepgisas.analysis.common import Model, Result, pyplot, save_figure


def filter_grid(weight: np.ndarray, channel: int = 0) -> np.ndarray:
    """conv0 weights [out, in, kh, kw] -> one image of all filters of input ``channel``, each
    scaled to [-1, 1], in a near-square grid with 1-pixel NaN gaps."""
    w = weight[:, channel]
    n, kh, kw = w.shape
    cols = int(np.ceil(np.sqrt(n * kh / kw)))
    rows = -(-n // cols)
    grid = np.full((rows * (kh + 1) - 1, cols * (kw + 1) - 1), np.nan)
    for k in range(n):
        r, c = divmod(k, cols)
        f = w[k] / (np.abs(w[k]).max() or 1.0)
        grid[r * (kh + 1):r * (kh + 1) + kh, c * (kw + 1):c * (kw + 1) + kw] = f
    return grid


def filter_stats(weight: np.ndarray, channel: int = 0) -> dict[str, Any]:
    """Per model: the shape, and how vertical the filters are: the mean ratio of the energy
    of row-wise (along alpha_f) variation to that of column-wise variation (> 1: the filters
    vary more along alpha_f than along phi_f, i.e. respond to horizontal features; < 1:
    vertical features such as Bragg rods)."""
    w = weight[:, channel]
    dv = np.diff(w, axis=1) ** 2 if w.shape[1] > 1 else np.zeros(1)
    dh = np.diff(w, axis=2) ** 2 if w.shape[2] > 1 else np.zeros(1)
    return {"shape": list(weight.shape),
            "vertical_over_horizontal_variation": float(dv.mean() / max(dh.mean(), 1e-30))}


def filters(models: list[Model], out: Path, channel: int = 0) -> Result:
    """``filters.png``: the conv0 filters of one model, or of two side by side."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 4.6), squeeze=False)
    numbers: dict[str, Any] = {}
    for ax, m in zip(axes[0], models, strict=True):
        w = m.net.first_conv.weight.detach().numpy()
        ch = min(channel, w.shape[1] - 1)
        ax.imshow(filter_grid(w, ch), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(f"{m.name}: conv0 {w.shape[0]} filters {w.shape[2]}x{w.shape[3]}",
                     fontsize=9)
        ax.axis("off")
        numbers[m.name] = filter_stats(w, ch)
    fig.tight_layout()
    path = save_figure(fig, out / "filters.png")
    text = ("The first convolution's filters on the image channel, each scaled to its largest "
            "weight (red positive, blue negative). " + "; ".join(
                f"{k}: {len(v['shape']) and v['shape'][0]} filters, variation along rows / "
                f"along columns {v['vertical_over_horizontal_variation']:.2f}"
                for k, v in numbers.items()) + ". Smooth, structured filters (edges, "
            "streaks) mean learnt features; noise-like ones, little training.")
    return Result("filters", [path], numbers, text)
