"""Learning curves: ``learning_curve.csv`` and ``learning_curve.png``, rewritten every epoch."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from deepgisas.io.atomic import atomic_write


def write_curves(folder: Path, rows: list[dict[str, float]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    text = buf.getvalue().encode()
    atomic_write(folder / "learning_curve.csv", lambda f: f.write(text))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [k for k in rows[0] if k not in ("epoch", "step", "images", "seconds", "lr")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.0), dpi=100,
                             squeeze=False)
    images = [r["images"] for r in rows]
    for ax, m in zip(axes[0], metrics, strict=True):
        ax.plot(images, [r[m] for r in rows], marker="o", ms=3)
        ax.set_xlabel("training images")
        ax.set_title(m.replace("_", " "))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(folder / "learning_curve.png", lambda f: fig.savefig(f, format="png"))
    plt.close(fig)


def mean_data_wait(rows: list[dict[str, float]]) -> float | None:
    """The mean share of time the loop waited for data, over the epochs after the first (whose
    wait includes the workers' start), or the first's alone; None without a record."""
    waits = [r["data_wait"] for r in rows if "data_wait" in r]
    if not waits:
        return None
    later = waits[1:] or waits
    return round(sum(later) / len(later), 4)
