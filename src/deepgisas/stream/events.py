"""What a stream tells the world while it runs: its listeners and its frame sources.

A *listener* (the live dashboard, a NeXus writer, a Bluesky emitter) sees the run through
three calls, all made on the stream's own thread: :meth:`StreamListener.started` once, with
:class:`StreamInfo` (the columns, the model, the rows resumed from an earlier run);
:meth:`StreamListener.batch` after each batch's rows are in the CSV, with
:class:`StreamBatch`; and :meth:`StreamListener.stopped` at the end. A listener must return
quickly (hand heavy work to a thread of its own); one that raises is warned about once and
then ignored, so no listener can stop or slow the stream by failing.

A *frame source* tells the stream which frames are ready and reads them:
:class:`~deepgisas.stream.scan.FolderScanner` polls a folder; other sources (a Tiled node)
follow the same :class:`FrameSource` protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from deepgisas.stream.scan import Frame


@dataclass(frozen=True)
class StreamInfo:
    """A run as it starts.

    ``model``: the model's name; ``card``: its card (the JSON dict); ``kind``: "gaussian" /
    "flow" (parameters) or "distribution" (orientation); ``columns``: the CSV header;
    ``panels``: (value column, std column or None) per plotted quantity; ``bounds``: each
    parameter's prior (lo, hi) in its column's unit; ``xi_deg``: an orientation model's bin
    centres (deg); ``source``: where frames come from (a folder, a Tiled URI); ``output``:
    the results CSV; ``fit``: the fit template's name or None; ``fit_mask``: pixels of the
    model grid the fit leaves out (True = left out; None: none); ``resumed``: rows of the
    CSV written by an earlier run, in column order."""

    model: str
    card: dict[str, Any]
    kind: str
    columns: tuple[str, ...]
    panels: tuple[tuple[str, str | None], ...]
    bounds: dict[str, tuple[float, float]]
    xi_deg: tuple[float, ...]
    source: str
    output: Path
    fit: str | None = None
    fit_mask: np.ndarray | None = None
    resumed: list[list[Any]] = field(default_factory=list)


@dataclass(frozen=True)
class StreamStatus:
    """The run's counters after a batch: ``frames`` predicted (this run and resumed),
    ``errors`` (frames declared corrupt), ``pending`` (frames seen, not yet finished: how far
    the stream is behind), ``rate`` (frames/s over the last seconds), ``elapsed`` (s)."""

    frames: int
    errors: int
    pending: int
    rate: float
    elapsed: float


@dataclass(frozen=True)
class StreamBatch:
    """One batch: ``rows`` (CSV rows, column order) and ``results`` (``predict``'s result
    per frame) of the frames predicted, ``images`` [n, rows, cols] (those frames on the
    model's grid, float64, NaN = masked), ``errors`` (rows of the errors CSV: frame, mtime,
    error) and the ``status`` after it."""

    rows: list[list[Any]]
    results: list[dict[str, Any]]
    images: np.ndarray
    errors: list[list[Any]]
    status: StreamStatus


class StreamListener(Protocol):
    """Sees a stream run (see the module docstring); every call must return quickly."""

    def started(self, info: StreamInfo) -> None: ...

    def batch(self, batch: StreamBatch) -> None: ...

    def stopped(self, status: StreamStatus) -> None: ...


class FrameSource(Protocol):
    """Frames for a stream. ``where``: what to name in messages; ``pending``: frames seen
    and not yet finished; :meth:`poll`: frames ready to read, in order; :meth:`skip`: names
    finished by an earlier run; :meth:`load`: a frame on the model's grid through ``read``
    (a :class:`~deepgisas.io.images.ModelImages`); :meth:`finish` / :meth:`failed`: as
    :class:`~deepgisas.stream.scan.FolderScanner`'s. A source may also have ``settle``
    (seconds from a frame listed to its read): ``idle_exit_s`` waits that much longer while
    a frame is pending."""

    where: str

    @property
    def pending(self) -> int: ...

    def poll(self) -> list[Frame]: ...

    def skip(self, names: Iterable[str]) -> None: ...

    def load(self, frame: Frame, read: Any) -> np.ndarray: ...

    def finish(self, name: str) -> None: ...

    def failed(self, frame: Frame) -> bool: ...


class Listeners:
    """Calls each listener in turn; a listener that raises is warned about (through
    ``warn``) and dropped, and the stream goes on."""

    def __init__(self, listeners: Sequence[StreamListener],
                 warn: Callable[[str], None]) -> None:
        self.listeners = list(listeners)
        self.warn = warn

    def _call(self, method: str, arg: Any) -> None:
        for listener in list(self.listeners):
            try:
                getattr(listener, method)(arg)
            except Exception as exc:  # noqa: BLE001  (a listener must not stop the stream)
                self.listeners.remove(listener)
                self.warn(f"{listener.__class__.__name__} failed and was dropped "
                          f"({exc.__class__.__name__}: {exc})")

    def started(self, info: StreamInfo) -> None:
        self._call("started", info)

    def batch(self, batch: StreamBatch) -> None:
        self._call("batch", batch)

    def stopped(self, status: StreamStatus) -> None:
        self._call("stopped", status)
