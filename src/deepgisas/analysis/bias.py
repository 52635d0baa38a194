"""The network's prior bias: what it predicts for reference samples, against their truth.

Orientation models: for each reference distribution (by default uniform, as in the talk, and
single domains at 0, 15 and 30 deg and the expert's guess 0:0.7,30:0.3), ``n`` patterns with
every other free parameter drawn from the prior go through the validation augmentation; the
mean prediction is compared with the reference (KL, circular EMD). Parameter models: every
label set to the same point of its prior (unit box 0.25, 0.5, 0.75), the rest drawn; the bias
is the mean prediction minus the truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepgisas.analysis.common import (
    Model,
    Result,
    distribution_dict,
    label_values,
    parse_distribution,
    predict_x,
    pyplot,
    save_figure,
    simulate_set,
)
from deepgisas.analysis.validate import distribution_scores

DEFAULT_REFERENCES = ("uniform", "0:1", "15:1", "30:1", "0:0.7,30:0.3")
LEVELS = (0.25, 0.5, 0.75)


def _orientation(model: Model, refs: list[str], n: int, seed: int, out: Path) -> Result:
    xi = model.labels.xi_deg()
    plt = pyplot()
    cols = min(3, len(refs))
    rows = -(-len(refs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols, 2.8 * rows), squeeze=False)
    numbers: dict[str, Any] = {"n": n, "references": {}}
    assert model.labels.orientation is not None
    for k, (ref, ax) in enumerate(zip(refs, axes.flat, strict=False)):
        truth = parse_distribution(ref, model.labels.bins)
        s = simulate_set(model, n, 2000 + 10 * seed + k,
                         fixed={model.labels.orientation: distribution_dict(truth, xi)})
        pred = predict_x(model, s.x)["dist"]
        mean = pred.mean(0)
        sc = distribution_scores(truth[None], mean[None])
        per = distribution_scores(np.broadcast_to(truth, pred.shape).copy(), pred)
        numbers["references"][ref] = {"kl_of_mean": float(sc["kl"][0]),
                                      "emd_of_mean_deg": float(sc["emd_deg"][0]),
                                      "mean_emd_deg": float(per["emd_deg"].mean()),
                                      "mean_prediction": mean.tolist()}
        lo, hi = np.percentile(pred, [5, 95], axis=0)
        ax.bar(xi, truth, width=60 / len(xi), color="0.6", label="truth")
        ax.fill_between(xi, lo, hi, color="C3", alpha=0.2, label="5-95 %")
        ax.plot(xi, mean, color="C3", lw=1.2, label="mean prediction")
        ax.set_title(f"{ref}: EMD {sc['emd_deg'][0]:.1f} deg", fontsize=9)
        ax.set_xlabel("xi (deg)")
        if k == 0:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(refs):]:
        ax.axis("off")
    fig.suptitle(f"predictions for reference distributions ({model.name}, {n} patterns each)")
    fig.tight_layout()
    path = save_figure(fig, out / "bias.png")
    r = numbers["references"]
    text = ("Grey: the reference distribution; red: the mean prediction over "
            f"{n} patterns with nuisance drawn from the prior, and its 5-95 % band. " +
            "; ".join(f"{k}: EMD of the mean {v['emd_of_mean_deg']:.2f} deg" for k, v in
                      r.items()) + ". A network without bias would return the reference; "
            "structure in the uniform panel is what it predicts with no signal.")
    return Result("bias", [path], numbers, text)


def _parameters(model: Model, n: int, seed: int, out: Path) -> Result:
    names = model.labels.names
    plt = pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.3), squeeze=False)
    numbers: dict[str, Any] = {"n": n, "levels": list(LEVELS), "bias": {}}
    preds = []
    for k, u in enumerate(LEVELS):
        fixed = label_values(model, np.full(len(names), u))
        s = simulate_set(model, n, 3000 + 10 * seed + k, fixed=fixed)
        preds.append(model.labels.decode(predict_x(model, s.x)["theta"]))
    truth = model.labels.decode(np.array([[u] * len(names) for u in LEVELS]))
    for j, name in enumerate(names):
        t = truth[name]
        m = np.array([p[name].mean() for p in preds])
        sd = np.array([p[name].std() for p in preds])
        numbers["bias"][name] = {"truth": t.tolist(), "mean_prediction": m.tolist(),
                                 "bias": (m - t).tolist(), "std": sd.tolist()}
        ax = axes[0, j]
        ax.errorbar(t, m, yerr=sd, fmt="o", capsize=3, label="mean +- sd")
        ax.plot(t, t, "k--", lw=1, label="truth")
        ax.set_xlabel(f"true {name}")
        ax.set_ylabel(f"predicted {name}")
        ax.legend(fontsize=7)
    fig.suptitle(f"bias at three prior points ({model.name}, {n} patterns each)")
    fig.tight_layout()
    path = save_figure(fig, out / "bias.png")
    text = ("Every label set to the same point of its prior (a quarter, half and three "
            f"quarters of the way), the rest drawn, {n} patterns each: mean prediction +- sd "
            "against the truth. Bias at the midpoint: " +
            ", ".join(f"{k} {v['bias'][1]:+.3g}" for k, v in numbers["bias"].items()) +
            ". Predictions pulled towards the middle of the prior show a network that "
            "falls back on its prior.")
    return Result("bias", [path], numbers, text)


def bias(model: Model, out: Path, references: list[str] | None = None, n: int = 32,
         seed: int = 0) -> Result:
    """``bias.png`` and its figures (see the module docstring)."""
    if model.kind == "distribution":
        return _orientation(model, list(references or DEFAULT_REFERENCES), n, seed, out)
    return _parameters(model, n, seed, out)
