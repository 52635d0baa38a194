"""NeXus HDF5 files of results: a fit's parameters and a stream's rows, readable by h5py.

Layout (one ``NXentry`` named ``entry``)::

    entry (NXentry)        definition = "NXdeepgisas", title, start_time
      process (NXprocess)  program "deepgisas", version, date, command_line,
                           input_files, instrument_file, objective
        note (NXnote)      type "application/json", data: the model card as JSON text
        parameters (NXparameters)
                           one float64 dataset per parameter (attribute ``units``: "nm",
                           "deg" or ""; ``uncertainties``: the name of its std dataset,
                           NAME_std); goodness_of_fit, misfit
        distribution (NXdata, orientation answers only)
                           xi_deg (the axis), probability, probability_low/high and
                           probability_std (its ``uncertainties``) if given
        results (NXdata, streams only)
                           one resizable chunked dataset per CSV column (strings for
                           frame and flags), one row per frame

``definition`` names ``NXdeepgisas``, an application definition bundled beside this module
(:data:`NXDL`, ``NXdeepgisas.nxdl.xml``): it requires the process's provenance fields and
note, and allows the parameters, distribution and results groups. No official definition
fits: results are fitted sample parameters, not reduced I(Q) data, so ``NXcanSAS`` (which
requires an ``SASdata`` group with I and Q) would fail, and naming the base class ``NXentry``
is refused by ``nxvalidate``, which reads ``definition`` as an application definition.
nexusformat validates a file offline: ``nxvalidate -a NXDL FILE`` (it checks the base
classes too, and warns only about the provenance fields NXprocess does not define).
Field names follow NeXus naming rules: characters outside ``[A-Za-z0-9_]``
become ``_`` and the original column name is kept in the attribute ``column``.

This module takes plain dicts and arrays; it knows nothing of models, fits or streams.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from deepgisas.io.atomic import atomic_write
from deepgisas.io.text import cell_float

DEFINITION = "NXdeepgisas"
NXDL = Path(__file__).with_name("NXdeepgisas.nxdl.xml")  # the application definition
STRING_COLUMNS = ("frame", "flags")
STR = h5py.string_dtype()


def units(name: str) -> str:
    """The unit a parameter's name ends with: "nm", "deg" or "" (none known)."""
    for suffix in ("nm", "deg"):
        if name.endswith("_" + suffix):
            return suffix
    return ""


def field_name(name: str) -> str:
    """``name`` as a valid NeXus field name (``[A-Za-z0-9_]``, not starting with a digit)."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return "_" + out if out[:1].isdigit() else out


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _entry(f: h5py.File, title: str) -> h5py.Group:
    f.attrs["default"] = "entry"
    f.attrs["creator"] = "deepgisas"
    entry = f.create_group("entry")
    entry.attrs["NX_class"] = "NXentry"
    entry["definition"] = DEFINITION
    entry["title"] = title
    entry["start_time"] = now()
    return entry


def _process(entry: h5py.Group, version: str, card: Mapping[str, Any] | None,
             input_files: Sequence[str], instrument: str | None,
             objective: str | None, command_line: str | None) -> h5py.Group:
    proc = entry.create_group("process")
    proc.attrs["NX_class"] = "NXprocess"
    proc["program"] = "deepgisas"
    proc["version"] = version
    proc["date"] = now()
    proc["command_line"] = command_line if command_line is not None else " ".join(sys.argv)
    proc["input_files"] = np.array(list(input_files) or [""], dtype=STR)
    proc["instrument_file"] = instrument or ""
    proc["objective"] = objective or ""
    note = proc.create_group("note")
    note.attrs["NX_class"] = "NXnote"
    note["type"] = "application/json"
    note["description"] = "the model card"
    note["data"] = json.dumps(dict(card or {}))
    return proc


def _parameters(proc: h5py.Group, record: Mapping[str, Any]) -> None:
    par = proc.create_group("parameters")
    par.attrs["NX_class"] = "NXparameters"
    std = record.get("std") or {}
    for name, value in record.get("parameters", {}).items():
        key = field_name(name)
        d = par.create_dataset(key, data=float(value))
        d.attrs["units"] = units(name)
        d.attrs["column"] = name
        if name in std:
            s = std[name]
            e = par.create_dataset(key + "_std", data=np.nan if s is None else float(s))
            e.attrs["units"] = units(name)
            d.attrs["uncertainties"] = key + "_std"
    if record.get("misfit") is not None:
        par["misfit"] = float(record["misfit"])
    gof = record.get("goodness_of_fit")
    if isinstance(gof, Mapping):
        g = par.create_group("goodness_of_fit")
        g.attrs["NX_class"] = "NXparameters"
        for k, v in gof.items():
            if v is not None:  # lists and dicts as JSON text
                g[field_name(k)] = json.dumps(v) if isinstance(v, dict | list) else v
    if "probability" in record and "xi_deg" in record:
        dist = proc.create_group("distribution")
        dist.attrs["NX_class"] = "NXdata"
        dist.attrs["signal"] = "probability"
        dist.attrs["axes"] = ["xi_deg"]
        dist.create_dataset("xi_deg", data=np.asarray(record["xi_deg"], float))
        dist["xi_deg"].attrs["units"] = "deg"
        for k in ("probability", "probability_low", "probability_high", "probability_std"):
            if record.get(k) is not None:
                dist.create_dataset(k, data=np.asarray(record[k], float))
        if "probability_std" in dist:
            dist["probability"].attrs["uncertainties"] = "probability_std"


def write_fit(path: Path, record: Mapping[str, Any], version: str,
              card: Mapping[str, Any] | None = None, input_files: Sequence[str] = (),
              instrument: str | None = None, objective: str | None = None,
              command_line: str | None = None) -> None:
    """Write a fit's JSON ``record`` (``parameters``, ``std``, ``misfit``,
    ``goodness_of_fit``, an orientation's ``xi_deg``/``probability``...) to ``path``,
    atomically, in the layout of the module docstring."""

    def write(h5: h5py.File) -> None:
        entry = _entry(h5, f"deepgisas fit of {record.get('image', '')}")
        proc = _process(entry, version, card, input_files, instrument, objective,
                        command_line)
        _parameters(proc, record)

    _atomic(Path(path), write)


def _atomic(path: Path, build: Callable[[h5py.File], None]) -> None:
    """Build an HDF5 file in memory with ``build``, then write it atomically to ``path``."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        build(h5)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))


class ResultsFile:
    """A stream's NeXus file, open for appending: one resizable chunked dataset per column
    under ``entry/process/results``. Created (atomically, with ``rows``: those resumed) by
    the constructor; :meth:`append` adds rows and flushes; :meth:`close` closes it."""

    def __init__(self, path: Path, columns: Sequence[str], version: str,
                 card: Mapping[str, Any] | None = None, input_files: Sequence[str] = (),
                 instrument: str | None = None, objective: str | None = None,
                 command_line: str | None = None, rows: Sequence[Sequence[Any]] = (),
                 chunk: int = 256) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        self.text = [c in STRING_COLUMNS for c in self.columns]

        def write(h5: h5py.File) -> None:
            entry = _entry(h5, "deepgisas stream")
            proc = _process(entry, version, card, input_files, instrument, objective,
                            command_line)
            res = proc.create_group("results")
            res.attrs["NX_class"] = "NXdata"
            for name, text in zip(self.columns, self.text, strict=True):
                d = res.create_dataset(field_name(name), shape=(0,), maxshape=(None,),
                                       chunks=(chunk,), dtype=STR if text else "f8")
                d.attrs["column"] = name
                if not text:
                    d.attrs["units"] = units(name.split(":")[-1].removesuffix("_std"))
            floats = [c for c, t in zip(self.columns, self.text, strict=True) if not t]
            if floats:
                res.attrs["signal"] = field_name(floats[-1])

        _atomic(self.path, write)
        self.h5 = h5py.File(self.path, "r+")
        self.group = self.h5["entry/process/results"]
        self.data = [self.group[field_name(c)] for c in self.columns]
        self.append(rows)

    def append(self, rows: Sequence[Sequence[Any]]) -> None:
        """Append ``rows`` (CSV rows in column order; numbers may be text) and flush."""
        if not rows:
            return
        n = len(rows)
        for i, (d, text) in enumerate(zip(self.data, self.text, strict=True)):
            col = [r[i] for r in rows]
            values = (np.array([str(v) for v in col], dtype=object) if text
                      else np.array([cell_float(v) for v in col]))
            old = d.shape[0]
            d.resize((old + n,))
            d[old:] = values
        self.h5.flush()

    def close(self) -> None:
        if self.h5.id.valid:
            self.h5.close()
