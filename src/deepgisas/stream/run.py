"""``deepgisas stream``: predict every frame a detector writes into a folder, as it arrives.

The pipeline: a :class:`~deepgisas.stream.scan.FolderScanner` polls the folder for complete
frames (or another :class:`~deepgisas.stream.events.FrameSource` offers them); a thread pool
reads them and puts them on the model's grid (file I/O, decompression and the resampling
gather release the GIL), one batch ahead of the network; the network runs on batches of up
to ``batch`` frames (ONNX Runtime when available, loaded once); each batch's rows are
appended to the CSV in one atomic write; the PNG is redrawn every ``plot_every`` seconds;
each batch goes to the run's listeners (:mod:`deepgisas.stream.events`: the live dashboard,
a NeXus file). Frames that cannot be read are retried, then logged (a warning on stderr and
a line in ``RESULTS.errors.csv``), never fatal.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepgisas.data.labels import LabelSpace
from deepgisas.errors import UserError
from deepgisas.io.description import read_instrument
from deepgisas.io.images import FrameSetupError, ModelImages
from deepgisas.models.onnx import ENGINES
from deepgisas.predict import Predictor
from deepgisas.sample import Beam
from deepgisas.stream.columns import ERRORS, Columns
from deepgisas.stream.events import (
    FrameSource,
    Listeners,
    StreamBatch,
    StreamInfo,
    StreamListener,
    StreamStatus,
)
from deepgisas.stream.plot import LivePlot
from deepgisas.stream.scan import FolderScanner, Frame
from deepgisas.stream.table import Cell, ResultsTable
from deepgisas.templates import Template
from deepgisas.units import DEG

FitFunction = Callable[..., Any]  # deepgisas.fit.fit_image -> FitResult


SETUP = "setup: "  # marks a load error that no retry mends (a frame of the wrong shape)


@dataclass(frozen=True)
class _Fitting:
    """What ``--fit`` needs: the fit function, its template (with the instrument's beam) and
    the pixels it may use (None: all)."""

    function: FitFunction
    template: Template
    mask: np.ndarray | None


@dataclass(frozen=True)
class StreamConfig:
    """``poll_s``: seconds between polls of the folder; ``settle_s``: seconds a file must
    stay unchanged before it is read; ``retries``: failed reads of an unchanged file before
    it is declared corrupt; ``batch``: frames per network call; ``workers``: reader threads;
    ``plot_every_s``: seconds between redraws of the PNG; ``once``: process what is there,
    then stop; ``idle_exit_s``: stop after this many seconds without a new or finished
    frame (plus the source's settle time while a frame waits to be read); ``bins``: write an
    orientation model's 120 probabilities; ``fit_every``: refine every k-th frame with the
    fit template; ``x``: the plot's x axis, "index" or "time";
    ``progress``: a progress bar with ``once``; ``network_threads``: torch and ONNX Runtime
    threads for preprocessing and the network during the run (1 by default: the pipeline is
    already parallel, reading in ``workers`` threads while the network runs, and more
    intra-op threads on a small machine spin instead of working: CHANGELOG.md);
    ``engine``: the network's engine, as for ``predict`` ("auto", "torch" or "onnx")."""

    poll_s: float = 1.0
    settle_s: float = 2.0
    retries: int = 3
    batch: int = 64
    workers: int = 2
    plot_every_s: float = 5.0
    once: bool = False
    idle_exit_s: float | None = None
    bins: bool = False
    fit_every: int = 10
    x: str = "index"
    progress: bool = True
    network_threads: int = 1
    engine: str = "auto"

    def __post_init__(self) -> None:
        for name in ("poll_s", "settle_s", "plot_every_s"):
            if not getattr(self, name) >= 0:
                raise UserError(f"{name} must be >= 0", setting=name)
        for name in ("retries", "batch", "workers", "fit_every", "network_threads"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"{name} must be >= 1", setting=name)
        if self.idle_exit_s is not None and self.idle_exit_s < 0:
            raise UserError("idle_exit_s must be >= 0", setting="idle_exit_s")
        if self.engine not in ENGINES:
            raise UserError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}",
                            setting="engine")
        if self.x not in ("index", "time"):
            raise UserError(f"x must be index or time, not {self.x!r}", setting="x")


@dataclass(frozen=True)
class StreamSummary:
    """What one run did: frames predicted, frames declared corrupt, seconds, frames/s."""

    frames: int
    errors: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def fit_function() -> FitFunction:
    """``deepgisas.fit.fit_image`` without the profile-likelihood intervals (the stream
    records values and standard deviations), imported only when a stream fits (it pulls in
    scipy)."""
    from functools import partial

    from deepgisas.fit import FitConfig, fit_image

    return partial(fit_image, config=FitConfig(intervals=False))


def errors_path(output: Path) -> Path:
    """``results.csv`` -> ``results.errors.csv``: the frames declared corrupt."""
    return output.with_name(f"{output.stem}.errors.csv")


def plot_path(output: Path) -> Path:
    """``results.csv`` -> ``results.png``."""
    return output.with_suffix(".png")


def _stderr(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(f"deepgisas stream: warning: {message}", file=sys.stderr)


class _Run:
    """The state of one run (built by :func:`run_stream` after every check has passed)."""

    def __init__(self, predictor: Predictor, reader: ModelImages, scanner: FrameSource,
                 table: ResultsTable, errors: ResultsTable, columns: Columns, plot: LivePlot,
                 config: StreamConfig, fit: _Fitting | None,
                 warn: Callable[[str], None], listeners: Listeners) -> None:
        self.predictor, self.reader, self.scanner = predictor, reader, scanner
        self.table, self.errors, self.columns, self.plot = table, errors, columns, plot
        self.config, self.fit, self.warn = config, fit, warn
        self.listeners = listeners
        self.frames = 0
        self.n_errors = 0
        self.t0 = time.monotonic()
        self._recent: deque[tuple[float, int]] = deque([(self.t0, 0)])

    def status(self) -> StreamStatus:
        """The counters now; ``rate`` over about the last 10 s."""
        now = time.monotonic()
        self._recent.append((now, self.frames))
        while len(self._recent) > 2 and now - self._recent[1][0] >= 10.0:
            self._recent.popleft()
        t, n = self._recent[0]
        rate = (self.frames - n) / (now - t) if now > t else 0.0
        return StreamStatus(self.table.count, self.n_errors, self.scanner.pending, rate,
                            now - self.t0)

    def _load(self, frame: Frame) -> tuple[Frame, np.ndarray | None, str]:
        try:
            return frame, self.scanner.load(frame, self.reader), ""
        except FrameSetupError as exc:
            return frame, None, SETUP + str(exc)
        except UserError as exc:
            return frame, None, str(exc)
        except Exception as exc:  # noqa: BLE001  (anything a corrupt file makes a library do)
            return frame, None, f"{frame.path}: {exc.__class__.__name__}: {exc}"[:300]

    def _fit(self, fit: _Fitting, image: np.ndarray, result: dict[str, Any], name: str
             ) -> dict | None:
        try:  # the network's whole result: a parameter model's mean and std start the fit,
            # an orientation model's distribution narrows its scan (as in `deepgisas fit`)
            res = fit.function(fit.template, image, mask=fit.mask, start=result)
            out = {"parameters": res.parameters, "std": res.std, "misfit": res.misfit,
                   "at_bound": res.extra.get("at_bound", {})}
            if "parameters" in result:
                from deepgisas.fit.files import DISAGREE, disagreement

                z = disagreement(result, res)
                out["disagreement"] = z
                out["disagree"] = [k for k, v in z.items() if abs(v) > DISAGREE]
            return out
        except Exception as exc:  # noqa: BLE001  (a failed fit must not stop the stream)
            self.warn(f"{name}: fit failed ({exc.__class__.__name__}: {exc})")
            return None

    def process(self, loaded: Sequence[tuple[Frame, np.ndarray | None, str]]) -> int:
        """Predict, log failures, append rows; returns the frames finished (good or corrupt)."""
        good = [(f, img) for f, img, _ in loaded if img is not None]
        if not good and self.table.count == 0:
            setup = [err for _, img, err in loaded if img is None and err.startswith(SETUP)]
            if setup:  # the same detector writes every frame: this is no corrupt frame
                raise UserError(f"{setup[0][len(SETUP):]}; stopping: no frame can be read "
                                "with this setup")
        bad_rows: list[list[Cell]] = []
        for frame, img, err in loaded:
            if img is None and self.scanner.failed(frame):
                err = err.removeprefix(SETUP)
                self.warn(f"{err} (skipped, logged in {self.errors.path.name})")
                bad_rows.append([frame.name, frame.mtime, err])
        self.errors.append(bad_rows)
        self.n_errors += len(bad_rows)
        if not good:
            if bad_rows:
                self.listeners.batch(StreamBatch([], [], np.empty((0, 0, 0)), bad_rows,
                                                 self.status()))
            return len(bad_rows)
        images = np.stack([img for _, img in good])
        results = self.predictor(images)
        rows: list[list[Any]] = []
        for (frame, img), result in zip(good, results, strict=True):
            index = self.table.count + len(rows)
            fitted = (self._fit(self.fit, img, result, frame.name)
                      if self.fit is not None and index % self.config.fit_every == 0 else None)
            rows.append(self.columns.row(frame.name, index, frame.mtime, result, fitted))
        self.table.append(rows)
        self.plot.add(rows)
        for frame, _ in good:
            self.scanner.finish(frame.name)
        self.frames += len(rows)
        self.listeners.batch(StreamBatch(rows, results, images, bad_rows, self.status()))
        return len(rows) + len(bad_rows)

    def batches(self, frames: list[Frame], pool: ThreadPoolExecutor, stop: threading.Event
                ) -> Iterator[list[tuple[Frame, np.ndarray | None, str]]]:
        """Loaded batches, the next one being read while the current one is predicted."""
        size = self.config.batch
        chunks = [frames[i:i + size] for i in range(0, len(frames), size)]
        ahead: list[Future] = [pool.submit(self._load, f) for f in chunks[0]] if chunks else []
        for k in range(len(chunks)):
            current = [f.result() for f in ahead]
            ahead = ([pool.submit(self._load, f) for f in chunks[k + 1]]
                     if k + 1 < len(chunks) and not stop.is_set() else [])
            yield current
            if stop.is_set():
                for f in ahead:
                    f.cancel()
                return


def run_stream(model: str | Path, folder: str | Path | FrameSource, output: str | Path,
               instrument: str | Path | None = None, fit: str | Path | None = None,
               config: StreamConfig | None = None, stop: threading.Event | None = None,
               warn: Callable[[str], None] = _stderr, alpha_i_deg: float | None = None,
               orientation: str | None = None, keep_negative: bool = False,
               strict: bool = False, listeners: Sequence[StreamListener] = ()
               ) -> StreamSummary:
    """Stream ``folder`` through ``model`` into the CSV ``output`` (see the module docstring).
    ``folder`` is a folder to poll, or any :class:`~deepgisas.stream.events.FrameSource`;
    ``listeners`` see the run (:mod:`deepgisas.stream.events`).

    Every check (model, folder, output, instrument, fit) runs before anything is written;
    a problem is a :class:`UserError`. A beam or detector outside the model's training is
    warned about once (with ``strict``, an error). Frames that no retry can mend (the wrong
    shape: no or the wrong instrument) stop the run at once while no frame has been
    predicted, and a run that ends with no predicted frame at all raises a UserError (the
    results CSV, if this run created it, is removed; the errors CSV stays). Setting ``stop``
    ends the run cleanly after the current batch (the CLI sets it on Ctrl-C). Resumes
    ``output`` if it exists. ``instrument``, ``alpha_i_deg`` and ``orientation`` as
    :func:`deepgisas.io.description.read_instrument` takes them; ``keep_negative`` keeps negative
    pixel values. With ``fit``, frames are fitted on the model's grid, at the beam that grid
    is read at (the instrument's, matched to the model's wavelength).
    """
    config = config or StreamConfig()
    stop = stop or threading.Event()
    threads = torch.get_num_threads()
    torch.set_num_threads(config.network_threads)
    try:
        return _run_stream(model, folder, output, instrument, fit, config, stop, warn,
                           alpha_i_deg, orientation, keep_negative, strict,
                           Listeners(listeners, warn))
    finally:
        torch.set_num_threads(threads)


def _fitting(fit: str | Path, predictor: Predictor, reader: ModelImages) -> _Fitting:
    from deepgisas.fit.files import instrument_template, spot_mask
    from deepgisas.io.description import load_template

    fit_template = load_template(fit)
    if fit_template.base.detector != predictor.template.base.detector:
        raise UserError("the fit template's detector is not the model's (frames are read "
                        "onto the model's grid)", str(fit))
    if reader.match is None:
        return _Fitting(fit_function(), fit_template, None)
    m = reader.match  # the frames on the model's grid are at the model's matched beam
    fit_template, _ = instrument_template(
        fit_template, Beam(m.target_wavelength_nm, m.target_alpha_i / DEG))
    spots = spot_mask(fit_template, reader)
    return _Fitting(fit_function(), fit_template, None if spots is None else ~spots)


def _run_stream(model: str | Path, folder: str | Path | FrameSource, output: str | Path,
                instrument: str | Path | None, fit: str | Path | None, config: StreamConfig,
                stop: threading.Event, warn: Callable[[str], None],
                alpha_i_deg: float | None, orientation: str | None,
                keep_negative: bool, strict: bool, listeners: Listeners) -> StreamSummary:
    from deepgisas.io.instrument import describe

    output = Path(output)
    if isinstance(folder, str | Path) and not Path(folder).is_dir():
        raise UserError("no such folder", str(folder))
    predictor = Predictor(model, engine=config.engine, threads=config.network_threads)
    inst = (read_instrument(instrument, alpha_i_deg, orientation) if instrument is not None
            else None)
    reader = ModelImages(predictor.template, inst, str(instrument), keep_negative, orientation)
    if strict and reader.extrapolation:
        raise UserError("extrapolation (strict): " + "; ".join(
            describe(e) for e in reader.extrapolation), str(instrument), setting="strict")
    fitting = None
    fit_names: tuple[str, ...] = ()
    if fit is not None:
        fitting = _fitting(fit, predictor, reader)
        fit_labels = LabelSpace.of(fitting.template)
        fit_names = tuple(fit_labels.short[p] for p in fitting.template.priors
                          if p != fit_labels.orientation)
    columns = Columns(tuple(predictor.parameter_names),
                      tuple(float(x) for x in predictor.labels.xi_deg())
                      if predictor.kind == "distribution" else (), config.bins, fit_names)
    table = ResultsTable(output, columns.names)
    errors = ResultsTable(errors_path(output), ERRORS)
    table.check()
    errors.check()
    for e in reader.extrapolation:
        warn(f"extrapolation: {describe(e)}")
    created = not output.exists()
    errors_created = not errors.path.exists()
    done = table.open() | errors.open()
    bounds = {predictor.labels.short[p]: (prior.lo, prior.hi) for p, prior in
              zip(predictor.labels.numeric, predictor.labels.priors, strict=True)}
    plot = LivePlot(plot_path(output), columns.names, columns.plotted, config.x, bounds)
    plot.add(table.resumed)
    if isinstance(folder, str | Path):
        scanner: FrameSource = FolderScanner(folder, config.settle_s, config.retries, done)
    else:
        scanner = folder
        scanner.skip(done)
    listeners.started(StreamInfo(
        predictor.name, predictor.card.to_dict(), predictor.kind, tuple(columns.names),
        tuple(columns.plotted), bounds, columns.xi_deg, scanner.where, output,
        None if fit is None else str(fit), None if fitting is None else fitting.mask,
        table.resumed))
    table.resumed = []
    run = _Run(predictor, reader, scanner, table, errors, columns, plot, config, fitting, warn,
               listeners)
    t0 = run.t0
    try:
        _loop(run, stop, predictor.name)
    finally:
        listeners.stopped(run.status())
        table.close()
        errors.close()
        if table.count == 0 and created:
            output.unlink(missing_ok=True)  # nothing half-written: no results, no CSV
        if errors.count == 0 and errors_created and table.count == 0:
            errors.path.unlink(missing_ok=True)
        elif len(plot) or not plot.path.exists():
            plot.draw(predictor.name)
    if table.count == 0:
        if run.n_errors:
            raise UserError(f"no frame could be read: {run.n_errors} unreadable (see "
                            f"{errors_path(output)})", scanner.where)
        raise UserError("no frames were predicted (none found, or stopped first)",
                        scanner.where)
    return StreamSummary(run.frames, run.n_errors, time.monotonic() - t0)


def _loop(run: _Run, stop: threading.Event, title: str) -> None:
    from tqdm import tqdm

    cfg = run.config
    last_activity = last_plot = time.monotonic()
    seen = run.scanner.pending
    # a frame seen but not yet ready (its settle time, a retry) holds the idle exit back by
    # the source's settle time
    grace = float(getattr(run.scanner, "settle", 0.0))
    bar: Any = None
    try:
        with ThreadPoolExecutor(cfg.workers, thread_name_prefix="stream-read") as pool:
            while not stop.is_set():
                ready = run.scanner.poll()
                if run.scanner.pending > seen:  # a new frame is activity too
                    last_activity = time.monotonic()
                seen = run.scanner.pending
                if cfg.once and cfg.progress and bar is None and (ready
                                                                  or run.scanner.pending):
                    bar = tqdm(total=run.scanner.pending, unit="frame", file=sys.stderr,
                               dynamic_ncols=True)
                for loaded in run.batches(ready, pool, stop):
                    done = run.process(loaded)
                    if done:
                        last_activity = time.monotonic()
                    seen = run.scanner.pending
                    if bar is not None:
                        bar.total = max(bar.total, bar.n + done + run.scanner.pending)
                        bar.update(done)
                    if time.monotonic() - last_plot >= cfg.plot_every_s:
                        run.plot.draw(title)
                        last_plot = time.monotonic()
                now = time.monotonic()
                if now - last_plot >= cfg.plot_every_s:
                    run.plot.draw(title)
                    last_plot = now
                if cfg.once and run.scanner.pending == 0:
                    break
                if cfg.idle_exit_s is not None and now - last_activity >= cfg.idle_exit_s + (
                        grace if run.scanner.pending else 0.0):
                    break
                if not ready:
                    stop.wait(cfg.poll_s)
    except BaseException:
        if bar is not None:  # an error stops the run: its one line stands alone
            bar.leave = False
        raise
    finally:
        if bar is not None:
            bar.close()
