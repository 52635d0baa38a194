"""Partial least squares between network inputs and labels: which label components (xi bins,
or parameters) are linearly predictable from the image, and the talk's finding that "peaks are
difficult to predict, valleys easier".

PLS (scikit-learn's ``PLSRegression``) is fitted on three quarters of a simulated set, from the
image channel of the network input (flattened pixels) to the labels, and scored on the held-out
quarter: R^2 per component. It is fitted twice, to the true labels (what a linear model can
read from the images) and to the network's predictions (how much of the network's answer is
linear in the image). For orientation models each held-out pattern's bins split into peaks
(true weight > 0) and valleys (true weight 0); the mean absolute errors on both, for PLS and
for the network, test the talk's finding.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

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
from deepgisas.io.atomic import atomic_write


def fit_pls(x: np.ndarray, y: np.ndarray, n_components: int = 8, test_fraction: float = 0.25,
            seed: int = 0) -> dict[str, Any]:
    """PLS from ``x`` [n, D] to ``y`` [n, K] on a seeded split: ``r2`` [K] on the held-out
    part (NaN for a constant component), ``test`` indices, ``pred`` [n_test, K] and the
    ``x_weights`` [D, c]."""
    from sklearn.cross_decomposition import PLSRegression

    n = len(x)
    n_test = max(2, int(round(n * test_fraction)))
    if n - n_test < 3:
        raise UserError(f"PLS needs at least 5 patterns, got {n}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    test, train = order[:n_test], order[n_test:]
    c = max(1, min(n_components, len(train) - 1, x.shape[1]))
    keep = y[train].std(0) > 0  # constant components cannot be fitted (and score NaN)
    pls = PLSRegression(n_components=c, scale=False)
    pls.fit(x[train], y[train][:, keep])
    pred = np.tile(y[train].mean(0), (n_test, 1))
    pred[:, keep] = pls.predict(x[test])
    sst = ((y[test] - y[test].mean(0)) ** 2).sum(0)
    sse = ((y[test] - pred) ** 2).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1 - sse / sst, np.nan)
    return {"r2": r2, "test": test, "pred": pred, "x_weights": pls.x_weights_,
            "components": c}


def peaks_and_valleys(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Mean absolute error on the bins where the truth has weight (peaks) and where it has
    none (valleys), over patterns [n, bins]."""
    peak = truth > 0
    err = np.abs(pred - truth)
    return {"mae_peaks": float(err[peak].mean()), "mae_valleys": float(err[~peak].mean()),
            "mean_peak_height": float(truth[peak].mean())}


def pls(model: Model, out: Path, n: int = 256, n_components: int = 8, seed: int = 0) -> Result:
    """``pls.png`` (R^2 per component; the first two PLS weight images; peaks against valleys)
    and ``pls.csv`` (R^2 per component, for the truth and for the network's prediction)."""
    s = simulate_set(model, n, 4000 + seed)
    net_pred = predict_x(model, s.x)
    x = np.nan_to_num(image_of(s.x)).reshape(n, -1)
    key = model.head.target
    truth, pred = s.labels[key].astype(np.float64), net_pred[key]
    on_truth = fit_pls(x, truth, n_components, seed=seed)
    on_net = fit_pls(x, pred, n_components, seed=seed)
    test = on_truth["test"]
    if model.kind == "distribution":
        comp = [f"xi={v:g}" for v in model.labels.xi_deg()]
    else:
        comp = model.labels.names
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["component", "r2_truth", "r2_network"])
    for c, a, b in zip(comp, on_truth["r2"], on_net["r2"], strict=True):
        w.writerow([c, f"{a:.4f}", f"{b:.4f}"])
    table = out / "pls.csv"
    atomic_write(table, lambda f: f.write(buf.getvalue().encode()))
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    ax = axes[0]
    if model.kind == "distribution":
        xi = model.labels.xi_deg()
        ax.plot(xi, on_truth["r2"], label="PLS to true labels")
        ax.plot(xi, on_net["r2"], label="PLS to network output")
        ax.set_xlabel("xi bin (deg)")
    else:
        pos = np.arange(len(comp))
        ax.bar(pos - 0.2, on_truth["r2"], 0.4, label="PLS to true labels")
        ax.bar(pos + 0.2, on_net["r2"], 0.4, label="PLS to network output")
        ax.set_xticks(pos, comp, rotation=20)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylabel("held-out R^2")
    ax.legend(fontsize=7)
    ax.set_title(f"predictability ({on_truth['components']} PLS components)")
    shape = s.x.shape[2:]
    for j in range(2):
        ax = axes[1 + j]
        if j < on_truth["x_weights"].shape[1]:
            wimg = on_truth["x_weights"][:, j].reshape(shape)
            v = float(np.abs(wimg).max()) or 1.0
            ax.imshow(wimg, origin="lower", cmap="RdBu_r", vmin=-v, vmax=v, aspect="auto")
        ax.set_title(f"PLS weights, component {j + 1}")
        ax.set_xticks([])
        ax.set_yticks([])
    numbers: dict[str, Any] = {
        "n": n, "components": on_truth["components"],
        "mean_r2_truth": float(np.nanmean(on_truth["r2"])),
        "mean_r2_network": float(np.nanmean(on_net["r2"]))}
    ax = axes[3]
    if model.kind == "distribution":
        a = peaks_and_valleys(truth[test], np.clip(on_truth["pred"], 0, None))
        b = peaks_and_valleys(truth[test], pred[test])
        numbers["pls"], numbers["network"] = a, b
        numbers["peaks_harder"] = bool(a["mae_peaks"] > a["mae_valleys"]
                                       and b["mae_peaks"] > b["mae_valleys"])
        ax.bar([0, 1], [a["mae_peaks"], a["mae_valleys"]], 0.35, label="PLS")
        ax.bar([0.4, 1.4], [b["mae_peaks"], b["mae_valleys"]], 0.35, label="network")
        ax.set_xticks([0.2, 1.2], ["peaks (true > 0)", "valleys (true = 0)"])
        ax.set_yscale("log")
        ax.set_ylabel("mean absolute error per bin")
        ax.legend(fontsize=7)
        ax.set_title("peaks against valleys")
        extra = (f" Peaks against valleys (held out): PLS MAE {a['mae_peaks']:.3g} on peaks, "
                 f"{a['mae_valleys']:.3g} in valleys; network {b['mae_peaks']:.3g} and "
                 f"{b['mae_valleys']:.3g} (mean peak height {a['mean_peak_height']:.3g}): "
                 + ("peaks are harder, as the talk found." if numbers["peaks_harder"]
                    else "the talk's finding does not hold here."))
    else:
        ax.axis("off")
        extra = predictable_text(comp, on_truth["r2"])
    fig.tight_layout()
    path = save_figure(fig, out / "pls.png")
    text = (f"PLS on {n} simulated patterns (three quarters to fit, a quarter held out). "
            f"Held-out R^2 per label component, mean {numbers['mean_r2_truth']:.3f} for the "
            f"true labels and {numbers['mean_r2_network']:.3f} for the network's output; the "
            "weight images show which pixels the first two components read." + extra +
            " Table: pls.csv.")
    return Result("pls", [path, table], numbers, text)


def predictable_text(names: list[str], r2: np.ndarray) -> str:
    """The sentence on which parameter is linearly predictable: the one with the highest
    held-out R^2, or, when none is above 0, that none is (a PLS worse than the mean)."""
    r2 = np.asarray(r2, dtype=np.float64)
    if not np.isfinite(r2).any() or np.nanmax(r2) <= 0:
        return (" No parameter is linearly predictable from the image: every held-out R^2 is "
                "at or below 0 (no better than predicting the mean).")
    k = int(np.nanargmax(r2))
    return f" The most linearly predictable parameter is {names[k]} (held-out R^2 {r2[k]:.2f})."
