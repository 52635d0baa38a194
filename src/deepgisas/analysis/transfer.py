"""Transfer learning (the talk's Challenge 2): fine-tune a model trained on one template on
another template, train the same architecture from scratch with the same budget, and compare
the two validation curves.

Both runs use the source model's architecture and input options (augmentation, mask channel,
binned counts, intensity scale, crop jitter), with the crop and block size fitted to the new
template's detector as ``train`` would, the same seed, data stream and time or step budget;
the fine-tuned run starts from the source's backbone with a new head
(``TrainConfig.init_from``). Speed-up: the training images the scratch run needs to reach
its best validation loss, divided by those the fine-tuned run needs to reach the same loss
(none if it never does).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from deepgisas.analysis.common import Model, Result, pyplot, save_figure
from deepgisas.analysis.curves import read_curve
from deepgisas.templates import Template
from deepgisas.training.config import TrainConfig
from deepgisas.training.loop import train


def first_reaching(rows: list[dict[str, float]], key: str, level: float) -> float | None:
    """Training images at the first epoch whose ``key`` is <= ``level`` (None if never)."""
    return next((r["images"] for r in rows if r[key] <= level), None)


def speed_up(scratch: list[dict[str, float]], tuned: list[dict[str, float]], key: str
             ) -> dict[str, Any]:
    level = min(r[key] for r in scratch)
    a, b = first_reaching(scratch, key, level), first_reaching(tuned, key, level)
    return {"level": level, "images_scratch": a, "images_finetuned": b,
            "speed_up": (a / b) if a is not None and b else None,
            "final_scratch": scratch[-1][key], "final_finetuned": tuned[-1][key]}


def transfer(source: str | Path, template: Template, out: Path, cfg: TrainConfig,
             progress: bool = False) -> Result:
    """Train ``out/finetuned`` (from ``source``) and ``out/scratch`` on ``template`` with
    ``cfg`` (its arch and input are replaced by the source's); ``transfer.png``."""
    from deepgisas.data.preprocess import default_input

    src = Model.load(source)
    s0 = src.spec
    spec = default_input(template.base.detector.shape, src.card.arch, augment=s0.augment,
                         mask_channel=s0.mask_channel, bin_counts=s0.bin_counts, scale=s0.scale,
                         jitter=s0.jitter)
    base = replace(cfg, arch=src.card.arch, input=spec, init_from=None)
    train(template, out / "finetuned", replace(base, init_from=str(source)), progress=progress)
    train(template, out / "scratch", base, progress=progress)
    return compare_runs(out, src.name, base.arch)


def compare_runs(out: Path, source_name: str, arch: str) -> Result:
    """``transfer.png`` and the figures from the runs ``out/finetuned`` and ``out/scratch``."""
    tuned, scratch = read_curve(out / "finetuned"), read_curve(out / "scratch")
    key = "kl" if "kl" in scratch[0] else "nll"
    s = speed_up(scratch, tuned, key)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot([r["images"] for r in tuned], [r[key] for r in tuned], "o-", ms=3,
            label=f"fine-tuned from {source_name}")
    ax.plot([r["images"] for r in scratch], [r[key] for r in scratch], "o-", ms=3,
            label="from scratch")
    ax.axhline(s["level"], color="0.5", ls=":", lw=1, label="scratch's best")
    values = [r[key] for r in tuned + scratch]
    lo, hi = min(values), float(np.percentile(values, 90))
    if max(values) > hi:  # early spikes (a fresh head's first epochs) would flatten the rest
        ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.1 * (hi - lo))
    ax.set_xlabel("training images")
    ax.set_ylabel(f"validation {key}")
    up = f"speed-up {s['speed_up']:.1f}x" if s["speed_up"] else "speed-up: not reached"
    ax.set_title(f"transfer to the new template: {up}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = save_figure(fig, out / "transfer.png")
    text = (f"Validation {key} of a {arch} fine-tuned from {source_name} (new head) and of "
            "the same network trained from scratch, same data and budget. Final: fine-tuned "
            f"{s['final_finetuned']:.4g}, scratch {s['final_scratch']:.4g}. The fine-tuned run "
            + (f"reaches the scratch run's best ({s['level']:.4g}) after "
               f"{int(s['images_finetuned'])} images instead of {int(s['images_scratch'])}: "
               f"{s['speed_up']:.1f} times faster." if s["speed_up"] else
               "never reaches the scratch run's best."))
    return Result("transfer", [path], {"source": source_name, "metric": key, **s}, text)
