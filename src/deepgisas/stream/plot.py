"""The live plot of a stream: each parameter against frame index (or time) with a +-1 std
band, written atomically as a PNG next to the results CSV."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deepgisas.io.atomic import atomic_write
from deepgisas.io.text import cell_float

MAX_POINTS = 2000  # more frames are thinned for drawing (every k-th), not for the CSV


class LivePlot:
    """Accumulates rows (as written to the CSV) and draws them.

    ``columns``: the CSV header; ``panels``: (value column, std column or None) per panel;
    ``x``: "index" (frame order) or "time" (file mtime, seconds since the first frame);
    ``bounds``: the prior of a value column, drawn as dashed lines: a value on or beyond them
    is a limit of the prior, not a measurement.
    """

    def __init__(self, path: str | Path, columns: Sequence[str],
                 panels: Sequence[tuple[str, str | None]], x: str = "index",
                 bounds: dict[str, tuple[float, float]] | None = None) -> None:
        self.bounds = dict(bounds or {})  # value column -> its prior (dashed lines)
        self.path = Path(path)
        self.columns = list(columns)
        self.panels = list(panels)
        self.x = x
        self._at = {c: i for i, c in enumerate(self.columns)}
        wanted = ["index", "mtime"] + [c for v, s in self.panels for c in (v, s, f"fit:{v}")
                                       if c is not None and c in self._at]
        self._data: dict[str, list[float]] = {c: [] for c in wanted}
        self._drawn = -1

    def add(self, rows: Sequence[Sequence[object]]) -> None:
        """Rows of the CSV (text or numbers)."""
        for row in rows:
            for c, values in self._data.items():
                values.append(cell_float(row[self._at[c]]))

    def __len__(self) -> int:
        return len(self._data["index"])

    def draw(self, title: str = "") -> bool:
        """Write the PNG if rows were added since the last drawing; True if written."""
        n = len(self)
        if n == self._drawn:
            return False
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

        step = max(1, math.ceil(n / MAX_POINTS))
        d = {c: np.asarray(v[::step]) for c, v in self._data.items()}
        if self.x == "time" and n:
            x = d["mtime"] - np.nanmin(d["mtime"])
            xlabel = "time since the first frame (s)"
        else:
            x, xlabel = d["index"], "frame"
        panels = self.panels or [("index", None)]
        height = 1.6 * len(panels) + 0.7
        fig = Figure(figsize=(7.0, height))
        fig.subplots_adjust(left=0.11, right=0.98, top=1 - 0.35 / height,
                            bottom=0.5 / height, hspace=0.12)
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        for ax, (col, std) in zip(axes, panels, strict=True):
            y = d.get(col, np.full(len(x), np.nan))
            order = np.argsort(x, kind="stable")
            xs, ys = x[order], y[order]
            ax.plot(xs, ys, lw=0.9, color="C0", label="network")
            if std is not None and std in d:
                s = d[std][order]
                ax.fill_between(xs, ys - s, ys + s, color="C0", alpha=0.25, lw=0,
                                label="+-1 std")
            if f"fit:{col}" in d and np.isfinite(d[f"fit:{col}"]).any():
                ax.plot(xs, d[f"fit:{col}"][order], "o", ms=3, color="C3", label="fit")
            if col in self.bounds:
                for k, b in enumerate(self.bounds[col]):
                    ax.axhline(b, color="0.4", ls="--", lw=0.8,
                               label="prior bounds" if k == 0 else None)
            ax.set_ylabel(col, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7, loc="upper right")
        axes[-1].set_xlabel(xlabel)
        fig.suptitle(f"{title} ({n} frames)" if title else f"{n} frames", fontsize=9)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        atomic_write(self.path, lambda f: f.write(buf.getvalue()))
        self._drawn = n
        return True
