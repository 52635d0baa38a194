"""Learning curves of a model directory: training loss and every validation figure against
the number of training images (and wall time), from ``learning_curve.csv``."""

from __future__ import annotations

import csv
from pathlib import Path

from deepgisas.analysis.common import Result, pyplot, save_figure
from deepgisas.errors import UserError
from deepgisas.models.store import model_dir
from deepgisas.training.curves import mean_data_wait

FIXED = ("epoch", "step", "images", "seconds", "lr", "data_wait")


def read_curve(model: str | Path) -> list[dict[str, float]]:
    """The rows of a model's ``learning_curve.csv`` as numbers."""
    p = model_dir(model) / "learning_curve.csv"
    try:
        with p.open() as f:
            rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    except FileNotFoundError:
        raise UserError("the model has no learning curve", str(p)) from None
    except (ValueError, TypeError):
        raise UserError("not a learning curve (non-numeric values)", str(p)) from None
    if not rows or "images" not in rows[0] or "train_loss" not in rows[0]:
        raise UserError("not a learning curve (no rows, or no images / train_loss)", str(p))
    return rows


def curves(model: str | Path, out: Path) -> Result:
    """``curves.png``: the training loss, and each validation figure, against training
    images; the main figure (KL or NLL) also against wall time."""
    rows = read_curve(model)
    metrics = [k for k in rows[0] if k not in FIXED]
    main = "kl" if "kl" in metrics else "nll" if "nll" in metrics else metrics[0]
    plt = pyplot()
    n = len(metrics) + 1
    cols = min(n, 4)
    fig, axes = plt.subplots(-(-n // cols), cols, figsize=(3.4 * cols, 2.9 * -(-n // cols)),
                             squeeze=False)
    images = [r["images"] for r in rows]
    flat = list(axes.flat)
    for ax, m in zip(flat, metrics, strict=False):
        ax.plot(images, [r[m] for r in rows], marker="o", ms=3,
                color="C1" if m == "train_loss" else "C0")
        if m == main and "train_loss" in metrics:  # the same loss, on both sets
            ax.plot(images, [r["train_loss"] for r in rows], color="C1", alpha=0.6, lw=1,
                    label="training")
            ax.legend(fontsize=8)
        ax.set_title(("validation " if m != "train_loss" else "") + m.replace("_", " "))
        ax.set_xlabel("training images")
        ax.grid(alpha=0.3)
    ax = flat[len(metrics)]
    ax.plot([r["seconds"] / 60 for r in rows], [r[main] for r in rows], marker="o", ms=3)
    ax.set_xlabel("wall time (min)")
    ax.set_title(f"validation {main} over time")
    ax.grid(alpha=0.3)
    for ax in flat[n:]:
        ax.axis("off")
    fig.tight_layout()
    path = save_figure(fig, out / "curves.png")
    last, best = rows[-1], min(rows, key=lambda r: r[main])
    numbers = {"epochs": len(rows), "images": last["images"], "minutes": last["seconds"] / 60,
               f"final_{main}": last[main], f"best_{main}": best[main],
               "best_epoch": int(best["epoch"]), "final_train_loss": last["train_loss"]}
    text = (f"Training loss and validation figures after each epoch ({len(rows)} epochs, "
            f"{int(last['images'])} training images, {last['seconds'] / 60:.1f} min). "
            f"Validation {main}: {rows[0][main]:.4g} at the first epoch, {last[main]:.4g} at "
            f"the last, best {best[main]:.4g} (epoch {int(best['epoch'])}). A validation "
            "curve that flattens while the training loss keeps falling means over-fitting; "
            "one still falling means the budget, not the model, limits the result.")
    wait = mean_data_wait(rows)
    if wait is not None:
        numbers["data_wait"] = wait
        text += (f" The loop waited for data {numbers['data_wait']:.1%} of its time (mean over "
                 "the epochs after the first).")
    return Result("curves", [path], numbers, text)
