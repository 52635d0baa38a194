"""The dashboard's memory of a stream: decimation keeps what a plot must show, and the
messages a browser gets hold every point once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np

from deepgisas.live.hub import WATERFALL_ROWS, LiveHub, decimate
from deepgisas.stream import StreamBatch, StreamInfo, StreamStatus

COLUMNS = ("frame", "index", "mtime", "radius_nm", "std:radius_nm", "fit:radius_nm",
           "fit:std:radius_nm", "fit:misfit", "flags")


def info(resumed: list | None = None, xi: tuple[float, ...] = ()) -> StreamInfo:
    return StreamInfo("film", {}, "gaussian", COLUMNS, (("radius_nm", "std:radius_nm"),),
                      {"radius_nm": (1.0, 15.0)}, xi, "frames", Path("r.csv"),
                      resumed=resumed or [])


def row(i: int, fit: bool = False) -> list:
    return [f"f_{i}", i, 1000.0 + i, 5.0 + 0.01 * i, 0.1, 5.1 if fit else None,
            0.05 if fit else None, 1.2 if fit else None, ""]


def status(n: int) -> StreamStatus:
    return StreamStatus(n, 0, 0, 10.0, 1.0)


def test_decimation_keeps_the_extremes_and_the_ends() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 100_000))
    values[1, 54_321] = 50.0
    values[2, 777] = -50.0
    values[0, 5:9] = np.nan
    keep = decimate(values, 2000)
    assert len(keep) <= 2000 and np.all(np.diff(keep) > 0)
    assert {0, 99_999, 54_321, 777} <= set(keep.tolist())
    assert decimate(values[:, :10], 2000).tolist() == list(range(10))


class Loop:
    """Collects what the hub publishes (standing in for the server's event loop)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.messages: list[tuple[str, dict]] = []

    def fanout(self, event: str, text: str) -> None:
        self.messages.append((event, json.loads(text)))

    def run(self) -> list[tuple[str, dict]]:
        self.loop.run_until_complete(asyncio.sleep(0))
        return self.messages


def test_updates_carry_each_batch_once_and_history_has_all() -> None:
    hub, sink = LiveHub(clock=lambda: 7.0), Loop()
    hub.attach(sink.loop, sink.fanout)
    hub.started(info(resumed=[row(0), row(1)]))
    image = np.ones((2, 4, 4))
    for start in (2, 4):
        rows = [row(start, fit=True), row(start + 1)]
        hub.batch(StreamBatch(rows, [{}, {}], image, [["bad.tif", 1.0, "corrupt"]],
                              status(start + 2)))
    hub.stopped(status(6))
    messages = sink.run()
    assert [m[0] for m in messages] == ["history", "update", "update", "stopped"]
    assert messages[0][1]["points"]["index"] == [0, 1]  # the resumed rows
    assert messages[1][1]["points"]["index"] == [2, 3]
    assert messages[1][1]["points"]["fit:radius_nm"] == [5.1, None]
    assert messages[2][1]["image_index"] == 5 and messages[2][1]["time"] == 7.0
    assert messages[3][1]["status"]["running"] is False
    h = hub.history()
    assert h["points"]["index"] == list(range(6))
    assert h["points"]["radius_nm"][5] == 5.05
    assert h["bounds"] == {"radius_nm": [1.0, 15.0]} and len(h["errors"]) == 2
    assert hub.latest_image()[0] == 5
    sink.loop.close()


def test_history_is_decimated_but_keeps_every_fit() -> None:
    hub = LiveHub()
    hub.started(info())
    rows = [row(i, fit=i % 1000 == 0) for i in range(20_000)]
    hub.batch(StreamBatch(rows, [{}] * len(rows), np.ones((1, 2, 2)), [], status(20_000)))
    h = hub.history(points=500)
    index = h["points"]["index"]
    assert len(index) <= 500 + 20 and index[0] == 0 and index[-1] == 19_999
    fitted = [i for i, v in zip(index, h["points"]["fit:radius_nm"], strict=True)
              if v is not None]
    assert fitted == list(range(0, 20_000, 1000))


def test_the_waterfall_thins_itself() -> None:
    hub = LiveHub()
    xi = tuple(float(x) for x in np.arange(120) * 0.5)
    columns = ("frame", "index", "mtime", "folded_mean_deg", "folded_std_deg", "flags")
    hub.started(StreamInfo("hex", {}, "distribution", columns,
                           (("folded_mean_deg", "folded_std_deg"),), {}, xi, "d",
                           Path("r.csv")))
    p = [1.0 / 120] * 120
    n = 3 * WATERFALL_ROWS
    rows = [[f"f{i}", i, 0.0, 10.0, 1.0, ""] for i in range(n)]
    hub.batch(StreamBatch(rows, [{"probability": p}] * n, np.ones((n, 2, 2)), [], status(n)))
    h = hub.history()
    assert len(h["waterfall"]["index"]) <= WATERFALL_ROWS
    step = hub.waterfall_step
    assert step == 4 and h["waterfall"]["index"][:3] == [0, step, 2 * step]
    assert len(h["distribution"]) == 120
