"""Attention maps for any model (every :class:`Net` has ``forward_features`` and
``forward_head``): gradient saliency, integrated gradients and Grad-CAM, on the image channel.

The explained number is, for an orientation model, the log-probability of the most probable
xi bin (or of a chosen bin); for a parameter model, the predicted mean of one parameter.
- gradient: |d target / d pixel| (Simonyan et al. 2014);
- integrated gradients: (x - x0) times the mean gradient on the straight path from the
  baseline x0 = 0 (the mean of a standardised image) to x, ``steps`` points (Sundararajan et
  al. 2017); the attributions sum to target(x) - target(x0) (completeness);
- Grad-CAM: the last feature map weighted by its spatially averaged gradient, ReLU, upsampled
  to the input (Selvaraju et al. 2017).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from deepgisas.analysis.common import Model, Result, image_of, pyplot, save_figure
from deepgisas.errors import UserError
from deepgisas.models import Net

Target = Callable[[torch.Tensor], torch.Tensor]  # head outputs [B, K] -> explained value [B]


def target_fn(model: Model, x: torch.Tensor, label: str | None = None) -> tuple[Target, list[str]]:
    """The explained number per image, and its description per image."""
    with torch.no_grad():
        out = model.net(x)
    if model.kind == "distribution":
        xi = model.labels.xi_deg()
        if label is None:
            idx = out.argmax(-1)
        else:
            try:
                k = int(round(float(label) % 60 / (60 / len(xi)))) % len(xi)
            except ValueError:
                raise UserError(f"label must be an xi in deg for this model, got {label!r}",
                                setting="label") from None
            idx = torch.full((len(x),), k)
        return (lambda o: torch.log_softmax(o, -1).gather(1, idx[:, None])[:, 0],
                [f"log p(xi = {xi[int(i)]:g} deg)" for i in idx])
    names = model.labels.names
    name = label or names[0]
    if name not in names:
        raise UserError(f"label must be one of {', '.join(names)}, got {label!r}",
                        setting="label")
    j = names.index(name)
    return (lambda o: o[:, j]), [f"predicted {name} (unit box)"] * len(x)


def gradient(net: Net, x: torch.Tensor, target: Target) -> torch.Tensor:
    """|d target / d x| [B, C, H, W]."""
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(target(net(x)).sum(), x)
    return g.abs()


def integrated_gradients(net: Net, x: torch.Tensor, target: Target, steps: int = 32,
                         baseline: torch.Tensor | None = None) -> torch.Tensor:
    """Attributions [B, C, H, W] (signed) that sum to target(x) - target(baseline)."""
    x0 = torch.zeros_like(x) if baseline is None else baseline
    total = torch.zeros_like(x)
    for a in (torch.arange(steps, dtype=x.dtype) + 0.5) / steps:  # midpoint rule
        xa = (x0 + a * (x - x0)).requires_grad_(True)
        (g,) = torch.autograd.grad(target(net(xa)).sum(), xa)
        total += g
    return (x - x0) * total / steps


def grad_cam(net: Net, x: torch.Tensor, target: Target) -> torch.Tensor:
    """Grad-CAM [B, H, W] in [0, 1] per image."""
    feats = net.forward_features(x)
    (g,) = torch.autograd.grad(target(net.forward_head(feats)).sum(), feats)
    cam = F.relu((g.mean(dim=(2, 3), keepdim=True) * feats).sum(1, keepdim=True))
    to_image = getattr(net.backbone, "to_image", None)
    if to_image is not None:  # features on another axis than the image's (logq: log |phi_f|)
        cam = to_image(cam, x.shape[-1])
    cam = F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).max(1).values.clamp_min(1e-12)
    return (cam / peak[:, None, None]).detach()


def saliency(model: Model, x: torch.Tensor, names: list[str], out: Path,
             label: str | None = None, steps: int = 32) -> Result:
    """``saliency.png``: for each input (rows) the input, then the three maps overlaid on it."""
    net = model.net.eval()
    target, what = target_fn(model, x, label)
    maps = {"gradient": gradient(net, x, target)[:, 0].numpy(),
            "integrated gradients": integrated_gradients(net, x, target, steps)[:, 0]
            .abs().detach().numpy(),
            "Grad-CAM": grad_cam(net, x, target).numpy()}
    with torch.no_grad():
        gap = (target(net(x)) - target(net(torch.zeros_like(x)))).numpy()
    ig_sum = integrated_gradients(net, x, target, steps).sum(dim=(1, 2, 3)).detach().numpy()
    img = image_of(x)
    plt = pyplot()
    n = len(x)
    fig, axes = plt.subplots(n, 4, figsize=(12, 2.9 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(img[i], origin="lower", cmap="gray", aspect="auto")
        axes[i, 0].set_title(f"{names[i]}\n{what[i]}", fontsize=8)
        for j, (key, m) in enumerate(maps.items(), start=1):
            ax = axes[i, j]
            ax.imshow(img[i], origin="lower", cmap="gray", aspect="auto")
            v = m[i] / (np.percentile(m[i], 99.5) or 1.0)
            ax.imshow(np.clip(v, 0, 1), origin="lower", cmap="jet", alpha=0.5, aspect="auto")
            ax.set_title(key, fontsize=9)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    path = save_figure(fig, out / "saliency.png")

    def top_rows(m: np.ndarray) -> float:  # share of attention in the brightest 10 % of pixels
        share = []
        for k in range(n):
            bright = img[k] >= np.nanpercentile(img[k], 90)
            share.append(m[k][bright].sum() / max(m[k].sum(), 1e-30))
        return float(np.mean(share))

    numbers = {"n": n, "explained": what,
               "attention_on_brightest_10pct": {k: top_rows(m) for k, m in maps.items()},
               "ig_completeness_error": float(np.max(np.abs(ig_sum - gap))),
               "ig_gap": gap.tolist()}
    share = numbers["attention_on_brightest_10pct"]
    text = ("Where the network looks, overlaid on its input (image channel): gradient "
            "saliency, integrated gradients (|attribution|, baseline 0, "
            f"{steps} steps) and Grad-CAM on the last feature map. Share of each map on the "
            "brightest 10 % of pixels (peaks): " + ", ".join(f"{k} {v:.0%}" for k, v in
                                                             share.items()) +
            " (10 % if it looked everywhere alike). Integrated gradients sum to the change of "
            f"the explained output to within {numbers['ig_completeness_error']:.2g}.")
    return Result("saliency", [path], numbers, text)
