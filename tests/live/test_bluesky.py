"""``deepgisas.live.BlueskyCallback`` with a real RunEngine and ophyd detectors: the result
run is valid and its numbers are ``predict``'s; bad frames are skipped; external data is
filled; and the ``deepgisas live-bluesky`` worker behind a real 0MQ proxy."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("bluesky")
pytest.importorskip("ophyd")

from bluesky import RunEngine  # noqa: E402
from bluesky.plans import count  # noqa: E402
from event_model import DocumentNames, schema_validators  # noqa: E402
from ophyd.sim import NumpySeqHandler, SynSignal, SynSignalWithRegistry  # noqa: E402

from deepgisas.errors import UserError  # noqa: E402
from deepgisas.live.bluesky import (  # noqa: E402
    PLAN_NAME,
    SOURCE_SEQ_NUM,
    BlueskyCallback,
    BlueskyFrameWarning,
)
from deepgisas.predict import predict_arrays  # noqa: E402
from deepgisas.stream.columns import BASE  # noqa: E402
from tests.test_stream import frame  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
Docs = list[tuple[str, dict[str, Any]]]


def detector(name: str = "det", shape: tuple[int, int] | None = None) -> SynSignal:
    """A 2-D detector: film-like Poisson frames, row 0 at the top as area detectors store
    them (``frame`` gives row 0 = bottom); ``shape``: plain noise of that shape instead."""
    counter = itertools.count()

    def read() -> np.ndarray:
        i = next(counter)
        if shape is not None:
            return np.random.default_rng(i).poisson(100.0, shape).astype(np.float64)
        return frame(i)[::-1].copy()

    return SynSignal(func=read, name=name)


def run(callback: Any, *dets: Any, num: int = 5) -> Docs:
    """Run ``count(dets, num)`` with ``callback`` subscribed; the source documents."""
    source: Docs = []
    engine = RunEngine({})
    engine.subscribe(lambda name, doc: source.append((name, doc)))
    engine.subscribe(callback)
    engine(count(list(dets), num=num))
    return source


def check_run(docs: Docs, events: int) -> None:
    """A valid run: every document passes its schema, in the order of one run."""
    for name, doc in docs:
        schema_validators[DocumentNames[name]].validate(doc)
    assert [n for n, _ in docs] == ["start", "descriptor"] + ["event"] * events + ["stop"]
    start = docs[0][1]
    assert all(d["run_start"] == start["uid"] for n, d in docs if n in ("descriptor", "stop"))
    assert docs[-1][1]["num_events"] == {"primary": events}


def images_of(source: Docs, field: str = "det") -> np.ndarray:
    """The source events' images, row 0 = bottom (as ``predict_arrays`` takes them)."""
    return np.stack([np.asarray(d["data"][field])[::-1] for n, d in source if n == "event"])


def assert_predicted(docs: Docs, images: np.ndarray, seq_nums: list[int]) -> None:
    events = [d for n, d in docs if n == "event"]
    expected = predict_arrays("film", images)
    assert [e["data"][SOURCE_SEQ_NUM] for e in events] == seq_nums
    for event, result in zip(events, expected, strict=True):
        for name, value in result["parameters"].items():
            assert event["data"][name] == pytest.approx(value, rel=1e-4)
            assert event["data"][f"std:{name}"] == pytest.approx(result["std"][name],
                                                                  rel=1e-4)


def test_run_engine_in_process() -> None:
    docs: Docs = []
    callback = BlueskyCallback("film", emit=lambda name, doc: docs.append((name, doc)))
    source = run(callback, detector())
    check_run(docs, 5)
    start = docs[0][1]
    assert start["source_uid"] == source[0][1]["uid"]
    assert start["model"] == "film" and start["plan_name"] == PLAN_NAME
    assert start["card"] == callback.predictor.card.to_dict()
    keys = docs[1][1]["data_keys"]
    assert list(keys) == [n for n in callback.columns.names if n not in BASE] + [SOURCE_SEQ_NUM]
    assert_predicted(docs, images_of(source), [1, 2, 3, 4, 5])
    assert docs[-1][1]["exit_status"] == "success"


def test_bad_frame_is_skipped_and_runs_of_results_are_ignored() -> None:
    docs: Docs = []
    callback = BlueskyCallback("film", "det", emit=lambda name, doc: docs.append((name, doc)))
    bad = detector("det", shape=(64, 64))  # not the model's detector, and no instrument
    with pytest.warns(BlueskyFrameWarning, match=r"event 1 'det'.*64 x 64.*skipped"):
        run(callback, bad, num=1)
    check_run(docs, 0)
    again: Docs = []
    other = BlueskyCallback("film", emit=lambda name, doc: again.append((name, doc)))
    for name, doc in docs:  # a worker that hears its own results makes no run of them
        other(name, doc)
    assert again == []


def test_several_images_need_a_field() -> None:
    callback = BlueskyCallback("film")
    with pytest.raises(UserError, match="several images .*choose one with field"):
        run(callback, detector("a"), detector("b"), num=1)
    docs: Docs = []
    chosen = BlueskyCallback("film", "b", emit=lambda name, doc: docs.append((name, doc)))
    source = run(chosen, detector("a"), detector("b"), num=2)
    check_run(docs, 2)
    assert_predicted(docs, images_of(source, "b"), [1, 2])


def test_external_data_is_filled(tmp_path: Path) -> None:
    counter = itertools.count()
    det = SynSignalWithRegistry(func=lambda: frame(next(counter))[::-1].copy(), name="det",
                                save_path=str(tmp_path))
    docs: Docs = []
    callback = BlueskyCallback("film", "det", emit=lambda name, doc: docs.append((name, doc)),
                               handlers={"NPY_SEQ": NumpySeqHandler})
    source = run(callback, det, num=3)
    check_run(docs, 3)
    files = sorted(tmp_path.glob("*.npy"), key=lambda p: int(p.stem.rpartition("_")[2]))
    assert_predicted(docs, np.stack([np.load(f)[::-1] for f in files]), [1, 2, 3])
    docs.clear()
    run(callback, det, num=2)  # a second run: a fresh Filler reads its new resource
    check_run(docs, 2)
    unfilled: Docs = []
    plain = BlueskyCallback("film", "det", emit=lambda name, doc: unfilled.append((name, doc)))
    with pytest.warns(BlueskyFrameWarning, match="external data not filled"):
        for name, doc in source:
            plain(name, doc)
    check_run(unfilled, 0)


PROXY = """
from bluesky.callbacks.zmq import Proxy
proxy = Proxy(in_address="localhost:0", out_address="localhost:0")
print(proxy.in_port, proxy.out_port, flush=True)
proxy.start()
"""


def _line(process: subprocess.Popen, seconds: float) -> str:
    """The next line ``process`` writes on stdout, waiting at most ``seconds``."""
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(process.stdout.readline()),
                              daemon=True)
    reader.start()
    reader.join(seconds)
    assert out and out[0], "no line from the subprocess"
    return out[0]


class Receiver:
    """A RemoteDispatcher in a thread, keeping the documents published with ``prefix``."""

    def __init__(self, address: str, prefix: bytes) -> None:
        import asyncio

        from bluesky.callbacks.zmq import RemoteDispatcher

        self.docs: Docs = []
        self.loop = asyncio.new_event_loop()
        self.dispatcher = RemoteDispatcher(address, prefix=prefix, loop=self.loop)
        self.dispatcher.subscribe(lambda name, doc: self.docs.append((name, doc)))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import asyncio

        asyncio.set_event_loop(self.loop)
        try:
            self.dispatcher.start()
        except RuntimeError:  # stopped by stop()
            pass

    def wait(self, name: str, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if any(n == name for n, _ in list(self.docs)):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def proxy() -> Any:
    """A real 0MQ proxy in a subprocess on free ports: (input port, output port)."""
    process = subprocess.Popen([sys.executable, "-c", PROXY], stdout=subprocess.PIPE,
                               text=True)
    try:
        yield tuple(a.rpartition(":")[2] for a in _line(process, 30).split())
    finally:
        process.terminate()
        process.wait(10)


def worker(*args: str) -> subprocess.Popen:
    """``deepgisas live-bluesky film ARGS`` in a subprocess, once it is listening."""
    process = subprocess.Popen(
        [sys.executable, "-m", "deepgisas.cli.main", "live-bluesky", "film", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert "Ctrl-C stops" in _line(process, 120)
    return process


def publish(port_in: str, *plans: Any) -> Docs:
    """Run ``plans`` on a RunEngine publishing to the proxy; the source documents."""
    from bluesky.callbacks.zmq import Publisher

    publisher = Publisher(f"localhost:{port_in}")
    time.sleep(1.5)  # 0MQ subscriptions reach the proxy asynchronously
    source: Docs = []
    engine = RunEngine({})
    engine.subscribe(publisher)
    engine.subscribe(lambda name, doc: source.append((name, doc)))
    try:
        for plan in plans:
            engine(plan)
    finally:
        publisher.close()
    return source


def test_worker_behind_a_0mq_proxy(proxy: tuple[str, str]) -> None:
    port_in, port_out = proxy
    process = worker("--proxy", f"localhost:{port_out}", "--publish", f"localhost:{port_in}")
    try:
        receiver = Receiver(f"localhost:{port_out}", b"deepgisas")
        source = publish(port_in, count([detector()], num=5))
        done = receiver.wait("stop", 60)
        receiver.stop()
    finally:
        process.terminate()
        process.wait(10)
    assert done, "no result run came back"
    check_run(receiver.docs, 5)
    assert receiver.docs[0][1]["source_uid"] == source[0][1]["uid"]
    assert_predicted(receiver.docs, images_of(source), [1, 2, 3, 4, 5])
    assert "Traceback" not in process.stderr.read()


def test_worker_prints_and_stops_on_a_user_error(proxy: tuple[str, str]) -> None:
    port_in, port_out = proxy
    process = worker("--proxy", f"localhost:{port_out}")
    try:
        publish(port_in, count([detector()], num=2),
                count([detector("a"), detector("b")], num=1))
        code = process.wait(60)
    finally:
        process.kill()
    out, err = process.stdout.read(), process.stderr.read()
    assert code == 2
    assert err.strip().splitlines() == [
        f"deepgisas live-bluesky: run {err.split('run ')[1][:8]}: the events of stream "
        "'primary' hold several images (a, b): choose one with --field"]
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("run ") and " event 2: radius_nm=" in lines[1]
