"""Polling a folder for detector frames, and telling complete frames from half-written ones.

The folder is polled (``os.scandir`` every few seconds) rather than watched with inotify or
``watchdog``: change notifications are missing or unreliable on the network filesystems
(NFS, SMB, GPFS) where beamlines write their frames, and a poll costs one ``stat`` per new
file.

A file is *ready* once its size and modification time have not changed for ``settle``
seconds (measured on this machine's clock since it was first seen that way, or from its
mtime for files that were already old when first seen, such as a stored folder). A ready
file that fails to read (a writer that paused half-way, a truncated file) is retried after
another ``settle`` seconds; it is declared corrupt only after ``retries`` failures with the
file unchanged in between (so after ``retries x settle`` seconds unchanged and unreadable).
A change of size or mtime resets its count.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepgisas.io.readers import SUFFIXES


@dataclass(frozen=True)
class Frame:
    """A detector file: ``name`` within the folder, ``path``, ``mtime`` (unix seconds) and
    ``size`` (bytes) when it was found ready."""

    name: str
    path: Path
    mtime: float
    size: int


@dataclass
class _Seen:
    signature: tuple[int, int]  # (size, mtime_ns)
    since: float  # clock time at which this signature was first seen
    failures: int = 0


def is_frame_name(name: str) -> bool:
    """A supported detector file (optionally .gz); hidden and temporary files are not."""
    low = name.lower()
    if low.startswith((".", "~")) or low.endswith((".tmp", ".part", ".partial", ".lock")):
        return False
    if low.endswith(".gz"):
        low = low[:-3]
    return low.endswith(SUFFIXES)


def natural_key(name: str) -> tuple:
    """Sort key putting frame_2 before frame_10."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


class FolderScanner:
    """New complete frames in ``folder``, oldest names first.

    ``skip``: names already finished (resumed from a results file); ``settle``: seconds a file
    must stay unchanged before it is read; ``retries``: failed reads of an unchanged file
    before it is declared corrupt; ``clock``/``now``: monotonic and wall clocks (for tests).
    """

    def __init__(self, folder: str | Path, settle: float = 2.0, retries: int = 3,
                 skip: Iterable[str] = (), clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], float] = time.time) -> None:
        self.folder = Path(folder)
        self.settle, self.retries = float(settle), max(1, int(retries))
        self.finished: set[str] = set(skip)
        self.seen: dict[str, _Seen] = {}
        self.clock, self.now = clock, now
        self.where = str(self.folder)

    def skip(self, names: Iterable[str]) -> None:
        """Names finished by an earlier run (resumed from its results file)."""
        self.finished.update(names)

    def load(self, frame: Frame, read: Callable[..., np.ndarray]) -> np.ndarray:
        """``frame`` on the model's grid: ``read`` is a
        :class:`~deepgisas.io.images.ModelImages`."""
        return read(frame.path, warn=False)

    @property
    def pending(self) -> int:
        """Files seen and not yet finished (still being written, or to be retried)."""
        return len(self.seen)

    def poll(self) -> list[Frame]:
        """Frames ready to read, in natural name order. Each stays pending until it is marked
        :meth:`finish`-ed or has :meth:`failed` for good."""
        t, wall = self.clock(), self.now()
        ready: list[Frame] = []
        present: set[str] = set()
        with os.scandir(self.folder) as entries:
            for entry in entries:
                name = entry.name
                if name in self.finished or not is_frame_name(name):
                    continue
                try:
                    st = entry.stat()
                except OSError:  # vanished between the listing and the stat
                    continue
                if not stat.S_ISREG(st.st_mode):  # (entry.stat follows links, as isfile does)
                    continue
                present.add(name)
                sig = (st.st_size, st.st_mtime_ns)
                seen = self.seen.get(name)
                if seen is None or seen.signature != sig:
                    old = wall - st.st_mtime >= self.settle
                    seen = _Seen(sig, t - self.settle if old else t)
                    self.seen[name] = seen
                if st.st_size > 0 and t - seen.since >= self.settle:
                    ready.append(Frame(name, Path(entry.path), st.st_mtime, st.st_size))
        for name in set(self.seen) - present:  # deleted or renamed away
            del self.seen[name]
        return sorted(ready, key=lambda f: natural_key(f.name))

    def finish(self, name: str) -> None:
        """``name`` is done (its result or its error is recorded): never return it again."""
        self.finished.add(name)
        self.seen.pop(name, None)

    def failed(self, frame: Frame) -> bool:
        """Record a failed read of ``frame``; True when it is now declared corrupt (then it is
        finished), False when it will be retried at a later poll."""
        seen = self.seen.get(frame.name)
        if seen is None:
            return False
        seen.failures += 1
        if seen.failures >= self.retries:
            self.finish(frame.name)
            return True
        seen.since = self.clock()  # retry once it has stayed unchanged for another settle
        return False
