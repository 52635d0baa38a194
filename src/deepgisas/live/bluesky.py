"""Bluesky documents in, a run of predictions out: :class:`BlueskyCallback`.

The callback takes the documents of a Bluesky run (``(name, doc)``, as a RunEngine or a
``bluesky.callbacks.zmq.RemoteDispatcher`` gives them), predicts every 2-D image of an event
with a model, and emits a run of its own (:func:`event_model.compose_run`) to ``emit``:

- a start when the source run starts, with ``source_uid`` (the source run's uid), ``model``
  (the model's name), ``card`` (its card), ``field`` (the field given, else None),
  ``instrument`` and ``plan_name`` ``"deepgisas"``;
- one descriptor (stream ``primary``), whose fields are the numbers of ``deepgisas stream``'s
  CSV (:class:`~deepgisas.stream.columns.Columns`, without ``frame``, ``index`` and
  ``mtime``) and ``source_seq_num``: the source event's ``seq_num``;
- one event per image, and a stop (the source's exit status and reason) when the source run
  stops.

Runs this callback made (``plan_name`` ``"deepgisas"`` with a ``source_uid``) are ignored,
so a worker can subscribe to the proxy it publishes to. A frame that cannot be read or
predicted warns (:class:`BlueskyFrameWarning`) and is skipped; it never raises out of the
callback. External data (resource and datum documents) is read when ``handlers`` is given:
an :class:`event_model.Filler` with that handler registry fills the events first.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from event_model import ComposeRunBundle, DocumentRouter, Filler, compose_run
from event_model.documents import Event, EventDescriptor, RunStart, RunStop

from deepgisas.errors import UserError
from deepgisas.io.description import read_instrument
from deepgisas.io.images import ModelImages
from deepgisas.io.readers import ORIENTATIONS
from deepgisas.predict import Predictor, check_extrapolation
from deepgisas.stream.columns import BASE, Columns

PLAN_NAME = "deepgisas"
STREAM = "primary"
SOURCE_SEQ_NUM = "source_seq_num"

Emit = Callable[[str, dict[str, Any]], Any]


class BlueskyFrameWarning(UserWarning):
    """An event's image could not be read or predicted (it is skipped)."""


@dataclass
class _Run:
    """One source run being followed: its uid, the result run's composer, the image field
    of each of its descriptors that carries one, and the result events emitted."""

    source_uid: str
    bundle: ComposeRunBundle
    compose_event: Callable[..., Event]
    fields: dict[str, str] = field(default_factory=dict)  # descriptor uid -> image field
    events: int = 0


def image_fields(data_keys: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The fields of a descriptor's ``data_keys`` that hold one 2-D image per event: shape
    of two numbers, or more with leading ones (``[1, rows, cols]``)."""
    out = []
    for name, key in data_keys.items():
        shape = [int(n) for n in key.get("shape") or []]
        while len(shape) > 2 and shape[0] == 1:
            shape = shape[1:]
        if len(shape) == 2:
            out.append(name)
    return out


class BlueskyCallback(DocumentRouter):
    """A Bluesky document callback ``(name, doc)`` that predicts every image of a run with
    ``model`` and emits the results as a run of their own to ``emit`` (see the module
    docstring). Without ``emit`` the documents are dropped (a subclass may read
    :attr:`columns` and override :meth:`emit`).

    ``model``: a bundled model name or a model directory. ``field``: the event field that
    holds the images; by default the one 2-D field of a descriptor's ``data_keys`` (a
    descriptor with several and no ``field`` is a :class:`UserError`; descriptors without
    the field are ignored). ``instrument``: a description file, .poni file or bundled
    instrument name, from which each image is resampled onto the model's grid (without it,
    an image must have the model's shape); ``alpha_i_deg`` and ``orientation`` as
    :func:`deepgisas.io.description.read_instrument` takes them, ``orientation`` also being
    how the arrays store the image (default "top-down": row 0 at the top, as area detectors
    do). ``keep_negative`` keeps negative pixel values. A beam or detector outside the
    model's training warns (with ``strict``, a :class:`UserError`). ``engine``: as for
    :class:`~deepgisas.predict.Predictor`. ``handlers``: a handler registry (spec ->
    handler class) for external data, used by an :class:`event_model.Filler`.
    """

    def __init__(self, model: str | Path, field: str | None = None,
                 instrument: str | Path | None = None, *, emit: Emit | None = None,
                 keep_negative: bool = False, alpha_i_deg: float | None = None,
                 orientation: str | None = None, engine: str = "auto", strict: bool = False,
                 handlers: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.predictor = predictor = Predictor(model, engine=engine)
        inst = (read_instrument(instrument, alpha_i_deg, orientation)
                if instrument is not None else None)
        self.reader = ModelImages(predictor.template, inst, str(instrument), keep_negative,
                                  orientation)
        check_extrapolation(self.reader.extrapolation, str(instrument), strict)
        self.field, self.instrument = field, None if instrument is None else str(instrument)
        if orientation is not None and orientation not in ORIENTATIONS:
            raise UserError(f"unknown orientation {orientation!r} ({', '.join(ORIENTATIONS)})",
                            "orientation", setting="orientation")
        self.columns = Columns(tuple(predictor.parameter_names),
                               tuple(float(x) for x in predictor.labels.xi_deg())
                               if predictor.kind == "distribution" else ())
        self.names = [n for n in self.columns.names if n not in BASE]
        self._emit = emit
        self._handlers = None if handlers is None else dict(handlers)
        self._filler = self._new_filler()
        self._runs: dict[str, _Run] = {}  # source start uid -> run
        self._descriptors: dict[str, _Run] = {}  # source descriptor uid -> run

    def __call__(self, name: str, doc: dict[str, Any], validate: bool = False
                 ) -> tuple[str, Any]:
        if self._filler is not None:
            name, doc = self._fill(name, doc)
            if doc is None:  # an event whose external data cannot be read: skipped
                return name, doc
        return super().__call__(name, doc, validate)

    def _new_filler(self) -> Filler | None:
        return None if self._handlers is None else Filler(self._handlers, inplace=False)

    def _fill(self, name: str, doc: dict[str, Any]) -> tuple[str, Any]:
        assert self._filler is not None
        try:
            return self._filler(name, doc)
        except Exception as exc:  # noqa: BLE001  (a missing file, a handler's error)
            if name in ("event", "event_page"):
                self._warn(f"event {doc.get('seq_num', '')} of descriptor "
                           f"{str(doc.get('descriptor'))[:8]}: cannot read its external "
                           f"data ({exc.__class__.__name__}: {exc}); skipped")
                return name, None
            raise

    def emit(self, name: str, doc: dict[str, Any]) -> None:
        """Send one result document to ``emit`` (if given)."""
        if self._emit is not None:
            self._emit(name, doc)

    def start(self, doc: RunStart) -> None:
        source = cast(dict[str, Any], doc)
        if source.get("plan_name") == PLAN_NAME and "source_uid" in source:
            return  # a run of results (ours or another worker's): nothing to predict
        p = self.predictor
        meta = {"plan_name": PLAN_NAME, "source_uid": doc["uid"], "model": p.name,
                "card": p.card.to_dict(), "field": self.field, "instrument": self.instrument}
        for key in ("scan_id", "plan_name", "sample"):
            if key in source:
                meta[f"source_{key}"] = source[key]
        bundle = compose_run(metadata=meta)
        self.emit("start", dict(bundle.start_doc))
        keys = {n: {"source": f"deepgisas:{p.name}", "dtype": _dtype(n), "shape": []}
                for n in self.names}
        keys[SOURCE_SEQ_NUM] = {"source": "bluesky", "dtype": "integer", "shape": []}
        desc = bundle.compose_descriptor(data_keys=keys, name=STREAM)
        self.emit("descriptor", dict(desc.descriptor_doc))
        self._runs[doc["uid"]] = _Run(doc["uid"], bundle, desc.compose_event)

    def descriptor(self, doc: EventDescriptor) -> None:
        run = self._runs.get(doc["run_start"])
        if run is None:
            return
        keys = doc.get("data_keys", {})
        if self.field is not None:
            if self.field in keys:
                run.fields[doc["uid"]] = self.field
                self._descriptors[doc["uid"]] = run
            return
        images = image_fields(keys)
        if len(images) > 1:
            raise UserError(f"the events of stream {doc.get('name', '?')!r} hold several "
                            f"images ({', '.join(images)}): choose one with field",
                            f"run {run.source_uid[:8]}", setting="field")
        if images:
            run.fields[doc["uid"]] = images[0]
            self._descriptors[doc["uid"]] = run

    def event(self, doc: Event) -> Event:
        run = self._descriptors.get(doc["descriptor"])
        if run is None:
            return doc
        name = run.fields[doc["descriptor"]]
        where = f"run {run.source_uid[:8]} event {doc.get('seq_num')} {name!r}"
        try:
            if not doc.get("filled", {}).get(name, True):
                raise UserError("external data not filled (give handlers)")
            image = self.reader.array(np.asarray(doc["data"][name]), where, warn=False)
            result = self.predictor(image[None])[0]
        except Exception as exc:  # noqa: BLE001  (a bad frame must not stop the run)
            text = str(exc) if isinstance(exc, UserError) else (
                f"{exc.__class__.__name__}: {exc}")
            self._warn(f"{where}: {text}"[:400] + " (skipped)")
            return doc
        row = self.columns.row(name, run.events, float(doc.get("time", 0.0)), result)
        data = dict(zip(self.names, row[len(BASE):], strict=True))
        data[SOURCE_SEQ_NUM] = int(doc.get("seq_num", 0))
        now = time.time()
        event = run.compose_event(data=data, timestamps=dict.fromkeys(data, now))
        run.events += 1
        self.emit("event", dict(event))
        return doc

    def stop(self, doc: RunStop) -> None:
        run = self._runs.pop(doc["run_start"], None)
        if run is None:
            return
        for uid in run.fields:
            self._descriptors.pop(uid, None)
        if not run.fields and doc.get("exit_status", "success") == "success":
            self._warn(f"run {run.source_uid[:8]}: no event held an image"
                       + (f" field {self.field!r}" if self.field else " (no 2-D field)"))
        if self._filler is not None and not self._runs:  # its caches hold finished runs
            self._filler.close()
            self._filler = self._new_filler()
        stop = run.bundle.compose_stop(exit_status=doc.get("exit_status", "success"),
                                       reason=doc.get("reason", ""))
        self.emit("stop", dict(stop))

    @staticmethod
    def _warn(message: str) -> None:
        warnings.warn(message, BlueskyFrameWarning, stacklevel=3)


def _dtype(name: str) -> str:
    return "string" if name == "flags" else "number"
