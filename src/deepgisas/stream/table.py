"""The results CSV of a stream: whole lines appended atomically, resumed after a crash.

Each batch of rows is one ``os.write`` of complete lines on a file opened with ``O_APPEND``,
followed by ``fsync``. A crash (even ``kill -9`` or a power cut) can at worst leave the last
line incomplete; reopening the file truncates such a trailing partial line, so the CSV always
parses and the frame it held is simply done again. The names in the first column are the
finished frames, which a restart skips.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

from deepgisas.errors import UserError

Cell = str | int | float | None


def format_cell(v: Cell) -> str:
    """Numbers in their shortest exact form (``repr``), missing values empty."""
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return str(v)


def _repair(path: Path) -> None:
    """Cut a trailing partial line (a crash in the middle of a write) off ``path``."""
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        keep = 0
        block = 1 << 16
        pos = size
        while pos > 0:  # find the last newline, reading backwards
            start = max(0, pos - block)
            f.seek(start)
            chunk = f.read(pos - start)
            i = chunk.rfind(b"\n")
            if i >= 0:
                keep = start + i + 1
                break
            pos = start
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())


class ResultsTable:
    """A CSV with a fixed header: ``open`` (create or resume) then ``append`` rows.

    The first column holds the frame's file name. ``count``: rows in the file; ``resumed``:
    the rows that were there when it was opened (text), for the caller to use and drop.
    """

    def __init__(self, path: str | Path, columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.count = 0  # rows in the file
        self.resumed: list[list[str]] = []  # the rows found by open(), as text
        self._fd: int | None = None

    def check(self) -> None:
        """Raise a UserError, writing nothing, if the file cannot be used: its folder is
        missing or not writable, it is not a file, or it holds other columns."""
        p = self.path
        if not p.parent.is_dir():
            raise UserError("the folder does not exist", str(p))
        if p.exists() and not p.is_file():
            raise UserError("not a file", str(p))
        if not os.access(p if p.exists() else p.parent, os.W_OK):
            raise UserError("not writable", str(p))
        if p.exists() and p.stat().st_size > 0:
            with open(p, "rb") as f:
                first = f.readline()
            header = next(csv.reader([first.decode("utf-8", "replace").rstrip("\n")]), [])
            if first.endswith(b"\n") and header != self.columns:  # (a partial one is redone)
                raise UserError("holds other columns (another model or other options?): "
                                "give another output file", str(p))

    def open(self) -> set[str]:
        """Create the file with its header, or resume it: repair a trailing partial line and
        read the rows. Returns the names of the finished frames."""
        self.check()
        if self.path.exists():
            _repair(self.path)
            with open(self.path, newline="", encoding="utf-8") as f:
                lines = list(csv.reader(f))
            if lines and lines[0] != self.columns:  # only a partial header survived
                lines = []
                self.path.write_bytes(b"")
            for i, row in enumerate(lines[1:], start=2):
                if len(row) != len(self.columns):
                    raise UserError(f"line {i} has {len(row)} fields, expected "
                                    f"{len(self.columns)}", str(self.path))
            self.resumed = lines[1:]
            self.count = len(self.resumed)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        if os.fstat(self._fd).st_size == 0:
            self._write([self.columns])
            _fsync_dir(self.path.parent)
        return {row[0] for row in self.resumed}

    def _write(self, rows: Sequence[Sequence[Cell]]) -> None:
        text = [[format_cell(v) for v in row] for row in rows]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(text)
        data = buf.getvalue().encode("utf-8")
        assert self._fd is not None, "open() the table first"
        view = memoryview(data)
        while view:  # one write for a regular file; loop only if the kernel writes less
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)

    def append(self, rows: Sequence[Sequence[Cell]]) -> None:
        """Append complete rows (one write, then fsync)."""
        if not rows:
            return
        for row in rows:
            if len(row) != len(self.columns):
                raise ValueError(f"row of {len(row)} cells, header of {len(self.columns)}")
        self._write(rows)
        self.count += len(rows)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _fsync_dir(folder: Path) -> None:
    """Make a new file's directory entry durable (ignored where directories cannot be
    opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
