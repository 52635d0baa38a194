"""Validation on a fixed, seeded simulated set (or on shards): metrics, predicted against true
distributions or values, and the worst and best cases.

Orientation models: per pattern KL(true || predicted), circular EMD (deg) and the KL of the
folded distributions (p(xi) + p(60 - xi), what weak signals determine), against the uniform
prediction. Parameter models: per parameter the mean absolute error (unit box and physical),
the median relative error and the coverage of +-1 and +-2 std.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepgisas.analysis.common import (
    Model,
    Result,
    image_of,
    predict_x,
    pyplot,
    save_figure,
    simulate_set,
)
from deepgisas.errors import UserError
from deepgisas.models.losses import circular_emd, fold, kl_divergence


def shard_set(model: Model, folder: str | Path, n: int, seed: int
              ) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """Up to ``n`` patterns of a ``generate`` folder made from the model's template, through
    the model's validation augmentation: inputs and labels. The template may differ from the
    model's by its constraints alone: its draws then lie within the model's priors (e.g. a
    model trained before its template was constrained, on data drawn after)."""
    from deepgisas.data.shard_dataset import ShardDataset

    ds = ShardDataset(folder, 64, augment=model.spec.train(center=True), shuffle=False,
                      seed=seed, mask_channel=model.spec.mask_channel)
    if replace(ds.template, constraints=()) != replace(model.template, constraints=()):
        raise UserError("the shards were made from another template than the model's", str(folder))
    xs, labs = [], []
    key = model.head.target
    for b in ds:
        xs.append(b["x"])
        labs.append(b[key])
        if sum(len(x) for x in xs) >= n:
            break
    return torch.cat(xs)[:n], {key: torch.cat(labs)[:n].numpy()}


def distribution_scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """Per pattern [n]: ``kl``, ``emd_deg``, ``kl_folded`` of predictions against the truth."""
    t, p = torch.from_numpy(truth).double(), torch.from_numpy(pred).double()
    logp = p.clamp_min(1e-12).log()
    return {"kl": kl_divergence(t, logp).numpy(), "emd_deg": circular_emd(t, p).numpy(),
            "kl_folded": kl_divergence(fold(t), fold(p).clamp_min(1e-12).log()).numpy()}


def _case_figure(model: Model, idx: np.ndarray, img: np.ndarray, truth: np.ndarray,
                 pred: dict[str, np.ndarray], score: np.ndarray, title: str, label: str) -> Any:
    plt = pyplot()
    k = len(idx)
    fig, axes = plt.subplots(2, k, figsize=(2.9 * k, 5.4), squeeze=False)
    for j, i in enumerate(idx):
        axes[0, j].imshow(img[i], origin="lower", cmap="inferno", aspect="auto")
        axes[0, j].set_title(f"#{i}  {label} {score[i]:.3g}", fontsize=9)
        axes[0, j].set_xticks([])
        axes[0, j].set_yticks([])
        ax = axes[1, j]
        if model.kind == "distribution":
            xi = model.labels.xi_deg()
            ax.bar(xi, truth[i], width=60 / len(xi), color="0.6", label="true")
            ax.plot(xi, pred["dist"][i], color="C3", lw=1.2, label="predicted")
            ax.set_xlabel("xi (deg)")
        else:
            pos = np.arange(truth.shape[1])
            ax.bar(pos, truth[i], color="0.6", width=0.6, label="true")
            ax.errorbar(pos, pred["theta"][i], yerr=pred["std"][i], fmt="o", color="C3",
                        label="predicted +-1 std")
            ax.set_xticks(pos, model.labels.names, rotation=30, fontsize=7)
            ax.set_ylabel("unit box")
        if j == 0:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def validate(model: Model, out: Path, n: int = 256, seed: int = 0, data: str | None = None,
             cases: int = 4) -> Result:
    """Metrics and plots on ``n`` patterns: ``validate_truth.png`` (a grid of predicted and
    true distributions, or predicted against true values with error bars),
    ``validate_worst.png`` and ``validate_best.png``."""
    if data is not None:
        x, labels = shard_set(model, data, n, seed)
        where = f"{len(x)} patterns from the shards in {data}"
    else:
        s = simulate_set(model, n, seed)
        x, labels = s.x, s.labels
        where = f"{n} simulated patterns (seed {seed}), through the validation augmentation"
    pred = predict_x(model, x)
    img = image_of(x)
    plt = pyplot()
    numbers: dict[str, Any] = {"n": len(x), "seed": seed, "data": data}
    if model.kind == "distribution":
        truth = labels["dist"]
        sc = distribution_scores(truth, pred["dist"])
        base = distribution_scores(truth, np.full_like(truth, 1.0 / truth.shape[1]))
        numbers.update({k: float(v.mean()) for k, v in sc.items()})
        numbers.update({f"uniform_{k}": float(v.mean()) for k, v in base.items()})
        score, label = sc["emd_deg"], "EMD"
        k = min(12, len(x))
        cols = min(4, k)
        fig, axes = plt.subplots(-(-k // cols), cols, figsize=(3.3 * cols, 2.4 * -(-k // cols)),
                                 squeeze=False)
        xi = model.labels.xi_deg()
        for i, ax in enumerate(axes.flat):
            if i >= k:
                ax.axis("off")
                continue
            ax.bar(xi, truth[i], width=60 / len(xi), color="0.6", label="true")
            ax.plot(xi, pred["dist"][i], color="C3", lw=1.2, label="predicted")
            ax.set_title(f"#{i}: KL {sc['kl'][i]:.2f}, EMD {sc['emd_deg'][i]:.1f} deg",
                         fontsize=8)
            if i == 0:
                ax.legend(fontsize=7)
        for ax in axes[-1]:
            ax.set_xlabel("xi (deg)")
        fig.suptitle(f"predicted and true xi distributions ({model.name})")
        text = (f"On {where}: mean KL {numbers['kl']:.3f} (uniform guess "
                f"{numbers['uniform_kl']:.3f}), circular EMD {numbers['emd_deg']:.2f} deg "
                f"(uniform {numbers['uniform_emd_deg']:.2f}), folded KL "
                f"{numbers['kl_folded']:.3f} (uniform {numbers['uniform_kl_folded']:.3f}). "
                "Grey bars: true weights; red: predicted distribution.")
    else:
        truth = labels["theta"]
        names = model.labels.names
        phys_t, phys_p = model.labels.decode(truth), model.labels.decode(pred["theta"])
        lo = model.labels.decode(pred["theta"] - pred["std"])
        hi = model.labels.decode(pred["theta"] + pred["std"])
        err = np.abs(pred["theta"] - truth)
        score, label = err.mean(1), "MAE"
        fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.4), squeeze=False)
        parts = []
        for j, name in enumerate(names):
            z = np.abs(pred["theta"][:, j] - truth[:, j]) / pred["std"][:, j]
            rel = np.abs(phys_p[name] - phys_t[name]) / np.abs(phys_t[name])
            numbers[name] = {"mae_unit": float(err[:, j].mean()),
                             "mae": float(np.abs(phys_p[name] - phys_t[name]).mean()),
                             "median_relative_error": float(np.median(rel)),
                             "within_1std": float((z <= 1).mean()),
                             "within_2std": float((z <= 2).mean())}
            ax = axes[0, j]
            yerr = np.abs(np.stack([phys_p[name] - lo[name], hi[name] - phys_p[name]]))
            ax.errorbar(phys_t[name], phys_p[name], yerr=yerr, fmt="o", ms=3, alpha=0.6,
                        elinewidth=0.8)
            a, b = float(phys_t[name].min()), float(phys_t[name].max())
            ax.plot([a, b], [a, b], "k--", lw=1)
            ax.set_xlabel(f"true {name}")
            ax.set_ylabel(f"predicted {name}")
            ax.set_title(f"median rel. error {numbers[name]['median_relative_error']:.1%}",
                         fontsize=9)
            parts.append(f"{name}: median relative error "
                         f"{numbers[name]['median_relative_error']:.1%}, "
                         f"{numbers[name]['within_1std']:.0%} within 1 std")
        numbers["mae_unit"] = float(err.mean())
        fig.suptitle(f"predicted (+-1 std) against true values ({model.name})")
        text = (f"On {where}: " + "; ".join(parts) + " (68 % and 95 % within 1 and 2 std "
                "if the uncertainties are calibrated). Dashed: prediction = truth.")
    fig.tight_layout()
    paths = [save_figure(fig, out / "validate_truth.png")]
    order = np.argsort(score)
    k = min(cases, len(x))
    for name, idx in (("worst", order[::-1][:k]), ("best", order[:k])):
        f = _case_figure(model, idx, img, truth, pred, score,
                         f"the {k} {name} cases by {label} (top: network input)", label)
        paths.append(save_figure(f, out / f"validate_{name}.png"))
    numbers["worst"] = [int(i) for i in order[::-1][:k]]
    numbers["best"] = [int(i) for i in order[:k]]
    text += (f" The worst and best {k} cases by {label} are drawn with their network input "
             f"(worst {label} {score[order[-1]]:.3g}, best {score[order[0]]:.3g}).")
    return Result("validate", paths, numbers, text)
