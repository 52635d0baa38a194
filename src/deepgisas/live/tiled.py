"""Frames from a Tiled node, for ``deepgisas stream --tiled URI``: a
:class:`~deepgisas.stream.events.FrameSource` that follows a node of a Tiled server
(``tiled.client.from_uri``; the ``beamline`` extra) and offers each new frame once.

Two layouts are followed:

- a **container** whose children are 2-D arrays, one frame each: new children are new
  frames, named by their keys and taken in natural order of the keys (``f_2`` before
  ``f_10``), whatever order the server lists them in;
- one **3-D array** with frames along axis 0 that grows as frames are written: new slices
  are new frames, named ``KEY[i]`` (``KEY`` being the node's key), and only the new slices
  are read.

A frame is read ``settle`` seconds after it is first listed: a Tiled writer makes the node
(or grows the array) before it uploads the data, and a frame read in that gap holds zeros. A
frame's ``mtime`` is the wall-clock time it was first seen. Arrays are taken with row 0 at
the top, as area detectors store them (the stream's ``orientation`` or instrument says
otherwise). A network error (the server unreachable, a 5xx answer) while polling or reading
is warned about once per outage and retried at the next poll, never stopping the stream;
frames that fail to read for any other reason are retried ``retries`` times, then declared
corrupt."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from deepgisas.errors import UserError
from deepgisas.stream.scan import Frame, natural_key


class TiledWarning(UserWarning):
    """The Tiled server cannot be reached (once per outage), or can again."""


def _network_error(exc: BaseException) -> bool:
    """True for an error of the connection or the server (worth retrying later), False for
    one of the node itself (a 4xx answer: not found, not allowed)."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return isinstance(exc, httpx.HTTPError | OSError | TimeoutError)


def public_uri(uri: str) -> str:
    """``uri`` without its ``api_key`` query parameter (safe to print and to record)."""
    parts = urlsplit(uri)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "api_key"]
    return urlunsplit(parts._replace(query=urlencode(query)))


class TiledSource:
    """The frames of the Tiled node at ``uri`` (``http://HOST:PORT/api/v1/metadata/PATH``),
    in either layout of the module docstring. ``api_key``: the server's API key (or give
    it in the URI as ``?api_key=``); ``retries``: failed reads of a frame (other than
    network errors) before it is declared corrupt; ``settle``: seconds from a frame first
    listed to its read; ``retry_s``: seconds before a failed frame is read again; ``warn``:
    where warnings go (default: :class:`TiledWarning`).

    Raises :class:`UserError` (one line) when the node cannot be opened or is neither a
    container nor a 3-D array."""

    def __init__(self, uri: str, api_key: str | None = None, retries: int = 3,
                 retry_s: float = 1.0, settle: float = 1.0,
                 warn: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], float] = time.time) -> None:
        self.where = public_uri(uri)
        self.retries, self.retry_s = max(1, int(retries)), float(retry_s)
        self.settle = max(0.0, float(settle))
        self.warn = warn or (lambda m: warnings.warn(m, TiledWarning, stacklevel=3))
        self.clock, self.now = clock, now
        self.secret = api_key or dict(parse_qsl(urlsplit(uri).query)).get("api_key")
        self.node = _open(uri, api_key, self.where, self.secret)
        family = str(getattr(self.node.structure_family, "value", self.node.structure_family))
        shape = tuple(self.node.shape) if family == "array" else ()
        if family != "container" and len(shape) != 3:
            what = f"a {len(shape)}-D array" if family == "array" else f"a {family}"
            raise UserError(f"the node is {what}: follow a container of 2-D arrays or a 3-D "
                            "array (frames along axis 0)", self.where)
        self.stacked = family == "array"
        self.key = urlsplit(self.where).path.rstrip("/").rsplit("/", 1)[-1]
        self.finished: set[str] = set()
        self.seen: dict[str, tuple[float, int]] = {}  # name -> (mtime, index: -1 for a key)
        self.failures: dict[str, int] = {}
        self.hold: dict[str, float] = {}  # name -> clock time before which it is not retried
        self.network: set[str] = set()  # frames whose last read failed by a network error
        self.outage = False
        self.listed = 0  # slices of the 3-D array seen so far

    @property
    def pending(self) -> int:
        """Frames seen and not yet finished."""
        return len(self.seen)

    def skip(self, names: Iterable[str]) -> None:
        """Names finished by an earlier run (resumed from its results file)."""
        self.finished.update(names)
        for name in self.finished & set(self.seen):
            del self.seen[name]

    def _names(self) -> list[tuple[str, int]]:
        """(name, slice index or -1) of the frames on the server now: every child of a
        container, the slices of a 3-D array added since the last poll."""
        self.node.refresh()  # new shape, or new inlined contents of a small container
        if self.stacked:
            first, self.listed = self.listed, max(self.listed, int(self.node.shape[0]))
            return [(f"{self.key}[{i}]", i) for i in range(first, self.listed)]
        return [(str(k), -1) for k in self.node.keys()]

    def poll(self) -> list[Frame]:
        """Frames ready to read: new ones and those due for a retry, in natural name order
        (slice order for a 3-D array). Returns no new frame while the server cannot be
        reached (warned about once per outage)."""
        try:
            names = self._names()
        except Exception as exc:  # noqa: BLE001  (any failure of the poll is retried)
            if not _network_error(exc):
                raise UserError(f"cannot list the node ({_describe(exc, self.secret)})",
                                self.where) from exc
            self._down(exc)
            return []
        self._up()
        wall, t = self.now(), self.clock()
        for name, index in names:
            if name not in self.finished and name not in self.seen:
                self.seen[name] = (wall, index)
                if self.settle:  # its data may still be on the way
                    self.hold[name] = t + self.settle
        if not self.stacked:
            for name in set(self.seen) - {name for name, _ in names}:  # deleted children
                self._forget(name)
        ready = [Frame(name, Path(name), mtime, 0) for name, (mtime, _) in self.seen.items()
                 if self.hold.get(name, 0.0) <= t]
        if self.stacked:
            return sorted(ready, key=lambda f: self.seen[f.name][1])
        return sorted(ready, key=lambda f: natural_key(f.name))

    def _array(self, name: str) -> np.ndarray:
        _, index = self.seen[name]
        if index >= 0:
            return np.asarray(self.node[index])  # only this slice travels
        child = self.node[name]
        if str(getattr(child.structure_family, "value", "")) != "array":
            raise UserError("not an array", self._location(name))
        return np.asarray(child.read())

    def _location(self, name: str) -> str:
        """Where frame ``name`` is, for messages: ``URI/KEY`` or ``URI[i]``."""
        return name.replace(self.key, self.where, 1) if self.stacked else \
            f"{self.where}/{name}"

    def load(self, frame: Frame, read: Any) -> np.ndarray:
        """``frame`` on the model's grid through ``read`` (a
        :class:`~deepgisas.io.images.ModelImages`)."""
        try:
            array = self._array(frame.name)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001  (told apart below, the key left out)
            if _network_error(exc):
                self.network.add(frame.name)
                self._down(exc)
            raise UserError(f"cannot read the frame ({_describe(exc, self.secret)})",
                            self._location(frame.name)) from exc
        self.network.discard(frame.name)
        return read.array(array, frame.name, warn=False)

    def finish(self, name: str) -> None:
        """``name`` is done: never offer it again."""
        self.finished.add(name)
        self._forget(name)

    def _forget(self, name: str) -> None:
        for table in (self.seen, self.failures, self.hold):
            table.pop(name, None)
        self.network.discard(name)

    def failed(self, frame: Frame) -> bool:
        """Record a failed read; True when ``frame`` is now declared corrupt (then finished),
        False when it will be read again after ``retry_s`` (always, after a network error)."""
        name = frame.name
        if name not in self.seen:
            return False
        if name in self.network:
            self.network.discard(name)
        else:
            self.failures[name] = self.failures.get(name, 0) + 1
            if self.failures[name] >= self.retries:
                self.finish(name)
                return True
        self.hold[name] = self.clock() + self.retry_s
        return False

    def _down(self, exc: BaseException) -> None:
        if not self.outage:
            self.outage = True
            self.warn(f"{self.where}: cannot reach the Tiled server "
                      f"({_describe(exc, self.secret)}); "
                      "retrying at every poll")

    def _up(self) -> None:
        if self.outage:
            self.outage = False
            self.warn(f"{self.where}: the Tiled server answers again")


def _describe(exc: BaseException, secret: str | None = None) -> str:
    """One line for ``exc``, without ``secret`` (the API key) if it holds it."""
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    if secret:
        text = text.replace(secret, "***")
    return f"{exc.__class__.__name__}: {text}"[:200]


def _open(uri: str, api_key: str | None, where: str, secret: str | None) -> Any:
    """The client of the node at ``uri``, or a one-line :class:`UserError` (without
    ``secret``)."""
    try:
        from tiled.client import from_uri
    except ImportError as exc:
        raise UserError("following a Tiled node needs the tiled client: pip install "
                        "'deepgisas[beamline]'", where) from exc
    try:
        return from_uri(uri, api_key=api_key)
    except Exception as exc:  # noqa: BLE001  (httpx, tiled and URL errors alike)
        raise UserError(f"cannot open the Tiled node ({_describe(exc, secret)})",
                        where) from exc
