"""A stream's listeners and frame sources: what a listener sees, that a failing listener
cannot stop the stream, and that frames from memory (not files) stream like files."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deepgisas.io import raw_array
from deepgisas.io.images import ModelImages
from deepgisas.stream import Frame, StreamBatch, StreamConfig, StreamInfo, StreamStatus, run_stream
from tests.test_stream import FAST, frame, write_frame


class Recorder:
    def __init__(self) -> None:
        self.info: StreamInfo | None = None
        self.batches: list[StreamBatch] = []
        self.stopped_with: StreamStatus | None = None

    def started(self, info: StreamInfo) -> None:
        self.info = info

    def batch(self, batch: StreamBatch) -> None:
        self.batches.append(batch)

    def stopped(self, status: StreamStatus) -> None:
        self.stopped_with = status


class Broken(Recorder):
    def batch(self, batch: StreamBatch) -> None:
        raise RuntimeError("boom")


class MemorySource:
    """Frames held in memory, stored as area detectors store them (row 0 = top)."""

    def __init__(self, images: dict[str, np.ndarray]) -> None:
        self.images = dict(images)
        self.where = "memory"
        self.done: set[str] = set()

    @property
    def pending(self) -> int:
        return len(set(self.images) - self.done)

    def poll(self) -> list[Frame]:
        return [Frame(n, Path(n), 0.0, 0) for n in sorted(self.images) if n not in self.done]

    def skip(self, names: Iterable[str]) -> None:
        self.done.update(names)

    def load(self, f: Frame, read: ModelImages) -> np.ndarray:
        return read.raw(raw_array(self.images[f.name], f.name))

    def finish(self, name: str) -> None:
        self.done.add(name)

    def failed(self, f: Frame) -> bool:
        self.finish(f.name)
        return True


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_listeners_see_every_row_and_a_broken_one_is_dropped(tmp_path: Path) -> None:
    folder, out = tmp_path / "frames", tmp_path / "r.csv"
    folder.mkdir()
    for i in range(5):
        write_frame(folder / f"f_{i}.npy", i)
    (folder / "f_5.npy").write_bytes(b"not a frame")
    good, broken = Recorder(), Broken()
    warnings: list[str] = []
    run_stream("film", folder, out, config=StreamConfig(**FAST, once=True, batch=2),
               listeners=[broken, good], warn=warnings.append)
    assert good.info is not None and good.info.columns[:3] == ("frame", "index", "mtime")
    assert good.info.kind == "gaussian" and good.info.source == str(folder)
    assert set(good.info.bounds) >= {"radius_nm", "distance_nm"}
    seen = [r for b in good.batches for r in b.rows]
    csv_rows = rows_of(out)
    assert [r[0] for r in seen] == [r["frame"] for r in csv_rows]
    assert all(len(b.rows) == len(b.results) == len(b.images) for b in good.batches)
    assert all(b.images.shape[1:] == (128, 128) for b in good.batches if b.rows)
    assert sum(len(b.errors) for b in good.batches) == 1  # f_5 is corrupt
    assert good.stopped_with is not None and good.stopped_with.frames == 5
    assert good.stopped_with.errors == 1
    assert any("Broken failed and was dropped" in w for w in warnings)


def test_frames_from_memory_equal_frames_from_files(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    images = {}
    for i in range(4):
        write_frame(folder / f"f_{i}.tif", i)  # int32 counts, row 0 at the top
        images[f"f_{i}.tif"] = frame(i)[::-1].astype(np.int32)
    run_stream("film", folder, tmp_path / "files.csv",
               config=StreamConfig(**FAST, once=True))
    run_stream("film", MemorySource(images), tmp_path / "memory.csv",
               config=StreamConfig(**FAST, once=True))
    a, b = rows_of(tmp_path / "files.csv"), rows_of(tmp_path / "memory.csv")
    assert [r["frame"] for r in a] == [r["frame"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert float(ra["radius_nm"]) == pytest.approx(float(rb["radius_nm"]), rel=1e-6)
    again: Any = Recorder()
    run_stream("film", MemorySource(images), tmp_path / "memory.csv",
               config=StreamConfig(**FAST, once=True, idle_exit_s=0.3), listeners=[again])
    assert again.info is not None and len(again.info.resumed) == 4  # resumed, nothing redone


class SettlingSource(MemorySource):
    """Lists its one frame at once and offers it for reading ``settle`` seconds later."""

    def __init__(self, images: dict[str, np.ndarray], settle: float) -> None:
        super().__init__(images)
        self.settle = settle
        self.listed: float | None = None

    def poll(self) -> list[Frame]:
        self.listed = self.listed or time.monotonic()
        return super().poll() if time.monotonic() - self.listed >= self.settle else []


def test_idle_exit_waits_for_a_frame_that_is_settling(tmp_path: Path) -> None:
    # the frame is listed at once and ready only after 0.6 s, longer than the idle limit
    source = SettlingSource({"f_0.tif": frame(0)[::-1].astype(np.int32)}, settle=0.6)
    summary = run_stream("film", source, tmp_path / "r.csv",
                         config=StreamConfig(**FAST, idle_exit_s=0.3))
    assert summary.frames == 1
    assert [r["frame"] for r in rows_of(tmp_path / "r.csv")] == ["f_0.tif"]
