"""Accuracy against exposure: the same patterns counted at fixed intensity scales.

The talk's augmentation draws the intensity scale (exposure x flux) from 10^U(-2, 2), so a
validation figure averages over four decades of counts. Here one fixed, seeded set of clean
patterns goes through the model's validation augmentation at each scale in turn (Poisson
noise, beam stop, dead strip, ... as in training, only the scale fixed), and the metrics are
plotted against the scale and against the counts that the scale gives per image. That says
how many counts a measurement needs for the accuracy a user wants.

Orientation models: mean KL, circular EMD and folded KL against the uniform guess. Parameter
models: the median relative error per parameter against the prior-midpoint guess.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from deepgisas.analysis.common import Model, Result, predict_x, pyplot, save_figure, simulate_set
from deepgisas.analysis.validate import distribution_scores
from deepgisas.data.labels import record
from deepgisas.data.stream import generator, template_hash, to_batch
from deepgisas.errors import UserError

DEFAULT_SCALES = (-2.0, -1.0, 0.0, 1.0, 2.0)


def exposure(model: Model, out: Path, scales: tuple[float, ...] = DEFAULT_SCALES, n: int = 128,
             seed: int = 0) -> Result:
    """Metrics of ``model`` on ``n`` seeded patterns at each log10 intensity scale in
    ``scales``; writes ``exposure.png``."""
    if not scales:
        raise UserError("need at least one intensity scale")
    s = simulate_set(model, n, seed, augment=False)
    inten = s.intensity.astype(np.float32)
    counts = np.nansum(s.intensity.reshape(n, -1), axis=1)  # at scale 1
    rows: list[dict[str, Any]] = []
    for k, lg in enumerate(scales):
        spec = dataclasses.replace(model.spec, scale=(float(lg), float(lg)))
        gen = generator(np.random.SeedSequence(template_hash(model.template),
                                               spawn_key=(11, seed, k)), "cpu")
        b = to_batch(inten, s.labels, record(s.draws), spec.train(center=True), gen,
                     mask_channel=spec.mask_channel)
        pred = predict_x(model, b["x"])
        row: dict[str, Any] = {"log10_scale": float(lg),
                               "median_counts": float(np.median(counts) * 10.0 ** lg)}
        if model.kind == "distribution":
            truth = s.labels["dist"]
            sc = distribution_scores(truth, pred["dist"])
            row.update({key: float(v.mean()) for key, v in sc.items()})
        else:
            truth_p = model.labels.decode(s.labels["theta"])
            pred_p = model.labels.decode(pred["theta"])
            for name in model.labels.names:
                rel = np.abs(pred_p[name] - truth_p[name]) / np.abs(truth_p[name])
                row[name] = float(np.median(rel))
        rows.append(row)
    numbers: dict[str, Any] = {"n": n, "seed": seed, "rows": rows}
    plt = pyplot()
    x = [r["median_counts"] for r in rows]
    if model.kind == "distribution":
        truth = s.labels["dist"]
        base = distribution_scores(truth, np.full_like(truth, 1.0 / truth.shape[1]))
        numbers["uniform"] = {key: float(v.mean()) for key, v in base.items()}
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for key, label in (("kl", "KL"), ("kl_folded", "folded KL")):
            line = axes[0].plot(x, [r[key] for r in rows], "o-", label=label)[0]
            axes[0].axhline(numbers["uniform"][key], color=line.get_color(), ls=":", lw=1)
        axes[0].set_ylabel("mean KL (dotted: uniform guess)")
        axes[1].plot(x, [r["emd_deg"] for r in rows], "o-", color="C2")
        axes[1].axhline(numbers["uniform"]["emd_deg"], color="C2", ls=":", lw=1)
        axes[1].set_ylabel("circular EMD (deg)")
        axes[0].legend(fontsize=8)
        best = min(rows, key=lambda r: r["kl"])
        text = (f"The same {n} simulated patterns counted at fixed intensity scales 10^"
                f"{', 10^'.join(f'{v:g}' for v in scales)} (median counts per image "
                f"{x[0]:.3g} to {x[-1]:.3g}). Mean KL goes from {rows[0]['kl']:.3f} to "
                f"{rows[-1]['kl']:.3f} (uniform guess {numbers['uniform']['kl']:.3f}); the "
                f"best is {best['kl']:.3f} at 10^{best['log10_scale']:g}. Circular EMD "
                f"{rows[0]['emd_deg']:.2f} to {rows[-1]['emd_deg']:.2f} deg.")
    else:
        names = model.labels.names
        mid = model.labels.decode(np.full((1, len(names)), 0.5))
        truth_p = model.labels.decode(s.labels["theta"])
        numbers["prior_midpoint"] = {
            name: float(np.median(np.abs(mid[name][0] - truth_p[name]) / np.abs(truth_p[name])))
            for name in names}
        fig, axes = plt.subplots(1, 1, figsize=(5.5, 3.6), squeeze=False)
        ax = axes[0, 0]
        for name in names:
            ax.plot(x, [100 * r[name] for r in rows], "o-", label=name)
        ax.set_ylabel("median relative error (%)")
        ax.legend(fontsize=8)
        axes = axes[0]
        text = (f"The same {n} simulated patterns counted at fixed intensity scales 10^"
                f"{', 10^'.join(f'{v:g}' for v in scales)} (median counts per image "
                f"{x[0]:.3g} to {x[-1]:.3g}). Median relative error per parameter, from the "
                "lowest to the highest exposure: " + "; ".join(
                    f"{name} {rows[0][name]:.1%} to {rows[-1][name]:.1%} (prior midpoint "
                    f"{numbers['prior_midpoint'][name]:.1%})" for name in names) + ".")
    for ax in np.atleast_1d(axes):
        ax.set_xscale("log")
        ax.set_xlabel("median counts per image (whole detector)")
        ax.grid(alpha=0.3)
    trained = model.spec.scale
    fig.suptitle(f"accuracy against exposure ({model.name}; trained on 10^U({trained[0]:g}, "
                 f"{trained[1]:g}))", fontsize=10)
    fig.tight_layout()
    return Result("exposure", [save_figure(fig, out / "exposure.png")], numbers, text)
