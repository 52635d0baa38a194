"""The dashboard's memory of a stream: a :class:`~deepgisas.stream.events.StreamListener`
that keeps every frame's plotted numbers and hands them to the browsers.

The stream calls :meth:`LiveHub.batch` on its own thread; the call appends the batch's
numbers to growing arrays, keeps the last frame's image and orientation distribution, and
builds one JSON message (the batch's new points and the status) that is queued for every
connected browser, in a single call onto the server's event loop. It does no drawing, no
network I/O and no waiting: a slow or stuck browser can never slow the stream.

A browser that connects gets :meth:`LiveHub.history` first: every plotted column decimated
to at most ``points`` frames (in each of ``points / 2`` runs of consecutive frames, the
frames where a column is smallest and largest, so a spike is never thinned away), the
orientation waterfall on at most ``WATERFALL_ROWS`` rows, the last corrupt frames and the
status. It then receives the updates. A page with many points asks for a fresh, decimated
history instead of growing without end.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from deepgisas.io.text import cell_float
from deepgisas.stream.events import StreamBatch, StreamInfo, StreamStatus

HISTORY_POINTS = 2000  # frames sent to a browser that connects (decimated beyond)
WATERFALL_ROWS = 400  # orientation distributions kept for the waterfall (every k-th frame)
ERROR_ROWS = 20  # the last corrupt frames shown


class _Columns:
    """Float columns that grow by doubling (NaN = missing)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.data = np.full((len(self.names), 1024), np.nan)
        self.n = 0

    def append(self, rows: np.ndarray) -> None:
        """``rows`` [k, len(names)]."""
        k = rows.shape[0]
        if self.n + k > self.data.shape[1]:
            grown = np.full((len(self.names), max(2 * self.data.shape[1], self.n + k)), np.nan)
            grown[:, :self.n] = self.data[:, :self.n]
            self.data = grown
        self.data[:, self.n:self.n + k] = rows.T
        self.n += k

    def view(self) -> np.ndarray:
        return self.data[:, :self.n]


def decimate(values: np.ndarray, points: int) -> np.ndarray:
    """Indices (sorted) of at most ``points`` of the ``n`` frames of ``values`` [columns,
    n]: all of them when there are few, else the frames cut into ``points / (2 columns +
    2)`` runs, and of each run its first and last frame and, per column, the frames of the
    smallest and largest value."""
    n = values.shape[1]
    if n <= points:
        return np.arange(n)
    size = math.ceil(n / max(1, points // (2 * values.shape[0] + 2)))  # frames per run
    runs = math.ceil(n / size)
    starts = np.arange(runs) * size
    keep = [starts, np.minimum(starts + size, n) - 1]
    padded = np.full((values.shape[0], runs * size), np.nan)
    padded[:, :n] = values
    blocks = padded.reshape(values.shape[0], runs, size)
    finite = np.isfinite(blocks)
    for fill, pick in ((np.inf, np.argmin), (-np.inf, np.argmax)):
        at = pick(np.where(finite, blocks, fill), axis=2)  # [columns, runs]
        seen = finite.any(axis=2)
        keep.append((starts[None, :] + at)[seen])
    out = np.unique(np.concatenate(keep))
    return out[out < n]


def _list(values: np.ndarray, digits: int = 6) -> list[float | int | None]:
    """JSON numbers (``digits`` significant digits: 6 are plenty for a plot); whole numbers
    as integers; NaN -> null."""
    return [None if not math.isfinite(v) else int(v) if v.is_integer() and abs(v) < 2**53
            else float(f"{v:.{digits}g}") for v in values.tolist()]


def _column(name: str, values: np.ndarray) -> list[float | int | None]:
    """A column for JSON: times (unix seconds) to the millisecond, the rest to 6 digits."""
    return _list(values, 13 if name == "mtime" else 6)


class LiveHub:
    """A stream listener that feeds browsers (see the module docstring).

    ``x``: "index" or "time" (the x axis, as ``--plot-x``); ``clock``: wall clock (s).
    :meth:`attach` gives it the server's event loop and the function that fans a message
    out to the browsers (called on that loop).
    """

    def __init__(self, x: str = "index", clock: Callable[[], float] = time.time) -> None:
        self.x = x
        self.clock = clock
        self.info: StreamInfo | None = None
        self.lock = threading.Lock()
        self.columns: _Columns | None = None
        self.fields: list[str] = []
        self.status = StreamStatus(0, 0, 0, 0.0, 0.0)
        self.running = False
        self.errors: deque[list[Any]] = deque(maxlen=ERROR_ROWS)
        self.image: np.ndarray | None = None  # the last frame on the model's grid
        self.image_index = -1
        self.distribution: list[float] | None = None  # the last frame's p(xi)
        self.waterfall: list[tuple[int, list[float]]] = []
        self.waterfall_step = 1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fanout: Callable[[str, str], None] | None = None

    # -- the server's side ---------------------------------------------------------------
    def attach(self, loop: asyncio.AbstractEventLoop,
               fanout: Callable[[str, str], None]) -> None:
        """Messages go to ``fanout(event, json_text)``, called on ``loop``."""
        self._loop, self._fanout = loop, fanout

    def _publish(self, event: str, message: dict[str, Any]) -> None:
        loop, fanout = self._loop, self._fanout
        if loop is None or fanout is None or loop.is_closed():
            return
        text = json.dumps(message, separators=(",", ":"))
        try:
            loop.call_soon_threadsafe(fanout, event, text)
        except RuntimeError:  # the loop closed between the check and the call
            pass

    # -- the stream's side ---------------------------------------------------------------
    def started(self, info: StreamInfo) -> None:
        fields = ["index", "mtime"]
        for value, std in info.panels:
            fields += [value] + ([std] if std else [])
        fields += [c for c in info.columns if c.startswith("fit:") and c not in fields]
        self.fields = [c for c in dict.fromkeys(fields) if c in info.columns]
        with self.lock:
            self.info = info
            self.columns = _Columns(self.fields)
            self.running = True
            self._append(info.resumed)
        self._publish("history", self.history())

    def _append(self, rows: Sequence[Sequence[Any]]) -> np.ndarray:
        assert self.info is not None and self.columns is not None
        at = [self.info.columns.index(c) for c in self.fields]
        block = np.array([[cell_float(r[i]) for i in at] for r in rows], dtype=float).reshape(
            len(rows), len(at))
        self.columns.append(block)
        return block

    def batch(self, batch: StreamBatch) -> None:
        if self.info is None:
            return
        now = self.clock()
        with self.lock:
            block = self._append(batch.rows)
            self.status = batch.status
            self.errors.extend(batch.errors)
            latest: dict[str, Any] = {}
            if batch.rows:
                self.image = batch.images[-1]
                self.image_index = int(batch.rows[-1][1])
                latest["image_index"] = self.image_index
                if self.info.xi_deg:
                    self.distribution = [float(v) for v in batch.results[-1]["probability"]]
                    latest["distribution"] = _list(np.asarray(self.distribution))
                    self._waterfall(batch)
        self._publish("update", {
            "time": now, "points": {c: _column(c, block[:, i]) for i, c in enumerate(self.fields)},
            "errors": [[str(e[0]), cell_float(e[1]), str(e[2])] for e in batch.errors],
            "status": self.counters(), **latest})

    def _waterfall(self, batch: StreamBatch) -> None:
        """Every ``waterfall_step``-th frame's distribution; the step doubles when full."""
        assert self.info is not None
        for row, result in zip(batch.rows, batch.results, strict=True):
            index = int(row[1])
            if index % self.waterfall_step == 0:
                self.waterfall.append((index, [float(v) for v in result["probability"]]))
        while len(self.waterfall) > WATERFALL_ROWS:
            self.waterfall_step *= 2
            self.waterfall = [w for w in self.waterfall if w[0] % self.waterfall_step == 0]

    def stopped(self, status: StreamStatus) -> None:
        with self.lock:
            self.status = status
            self.running = False
        self._publish("stopped", {"time": self.clock(), "status": self.counters()})

    def close(self) -> None:
        """End every browser's event stream (the server is about to stop)."""
        self._publish("", {})

    # -- what a browser gets -------------------------------------------------------------
    def counters(self) -> dict[str, Any]:
        s = self.status
        return {"frames": s.frames, "errors": s.errors, "pending": s.pending,
                "rate": round(s.rate, 2), "elapsed": round(s.elapsed, 2),
                "running": self.running}

    def history(self, points: int = HISTORY_POINTS) -> dict[str, Any]:
        """Everything a page needs to draw the run so far (see the module docstring)."""
        with self.lock:
            info = self.info
            if info is None or self.columns is None:
                return {"started": False, "status": self.counters()}
            values = self.columns.view()
            plotted = [self.fields.index(v) for v, _ in info.panels if v in self.fields]
            keep = decimate(values[plotted], max(2, points))
            fit_rows = [i for i, c in enumerate(self.fields) if c.startswith("fit:")]
            if fit_rows:  # fits are sparse: keep the fitted frames apart from the thinning
                fitted = np.flatnonzero(np.isfinite(values[fit_rows]).any(axis=0))
                step = max(1, math.ceil(len(fitted) / points))
                keep = np.union1d(keep, fitted[::step])
            columns = {c: _column(c, values[i, keep]) for i, c in enumerate(self.fields)}
            return {
                "started": True, "model": info.model, "kind": info.kind,
                "source": info.source, "output": str(info.output), "fit": info.fit,
                "x": self.x, "panels": [list(p) for p in info.panels],
                "bounds": {k: list(v) for k, v in info.bounds.items()},
                "xi_deg": list(info.xi_deg), "frames_total": int(values.shape[1]),
                "points": columns,
                "waterfall": {"index": [w[0] for w in self.waterfall],
                              "z": [_list(np.asarray(w[1])) for w in self.waterfall]},
                "distribution": (None if self.distribution is None
                                 else _list(np.asarray(self.distribution))),
                "image_index": self.image_index,
                "errors": [[str(e[0]), cell_float(e[1]), str(e[2])] for e in self.errors],
                "status": self.counters(), "time": self.clock()}

    def latest_image(self) -> tuple[int, np.ndarray | None, np.ndarray | None]:
        """(frame index, the last frame on the model's grid, the fit's left-out pixels)."""
        with self.lock:
            mask = None if self.info is None else self.info.fit_mask
            return self.image_index, self.image, mask

