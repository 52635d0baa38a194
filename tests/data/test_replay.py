"""The replay buffer: oldest out first, seeded draws, never a wait after the fill, an honest
reuse factor, and a stream of its own per worker and rank."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from deepgisas.data import replay
from deepgisas.data.replay import BufferedStream, ReplayBuffer, reuse_factor
from deepgisas.data.stream import SimulatedStream, simulate_draws
from deepgisas.errors import UserError
from tests.data.helpers import small_template


def _rows(first: int, n: int, width: int = 2) -> dict[str, np.ndarray]:
    return {"v": np.arange(first, first + n, dtype=np.float64),
            "w": np.full((n, width), float(first))}


def test_the_oldest_patterns_go_first_and_draws_follow_the_seed() -> None:
    buf = ReplayBuffer(5)
    buf.add(_rows(0, 3))
    assert buf.size == 3
    buf.add(_rows(3, 4))  # 0..6 went in: slots hold 5, 6, 2, 3, 4
    assert buf.size == 5 and buf.added == 7
    a = buf.sample(200, torch.Generator().manual_seed(1))
    assert set(a["v"].tolist()) == {2.0, 3.0, 4.0, 5.0, 6.0}
    b = buf.sample(200, torch.Generator().manual_seed(1))
    assert np.array_equal(a["v"], b["v"]) and buf.drawn == 400
    assert reuse_factor({0: (buf.added, buf.drawn)}) == pytest.approx(400 / 7)
    assert reuse_factor({}) is None
    # an orientation of more domains than before widens the stored array with NaN: the 2 new
    # rows (slots 2, 3) have a third column, the 3 older ones NaN there
    buf.add(_rows(7, 2, width=3))
    c = buf.sample(200, torch.Generator().manual_seed(2))
    new = c["v"] >= 7
    assert c["w"].shape == (200, 3) and new.any() and (~new).any()
    assert np.all(c["w"][new, 2] == c["w"][new, 0]) and np.isnan(c["w"][~new, 2]).all()
    with pytest.raises(UserError, match="capacity"):
        ReplayBuffer(0)


class _SlowSimulator:
    """simulate_draws that fills the buffer, then takes ``delay`` seconds per chunk (or until
    ``release``); records the seeds it was given."""

    def __init__(self, fill: int, delay: float) -> None:
        self.fill, self.delay, self.done = fill, delay, 0
        self.keys: list[tuple[int, ...]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # ends the delay (a stream joins its thread)

    def __call__(self, template, n, ss, labels, dtype):  # type: ignore[no-untyped-def]
        with self.lock:
            self.keys.append(tuple(ss.spawn_key))
            late = self.done >= self.fill
            self.done += n
        if late:
            self.release.wait(self.delay)
        return simulate_draws(template, n, ss, labels, dtype)


def _stream(**kw: object) -> BufferedStream:
    base = dict(capacity=16, batch_size=8, seed=3, chunk=4, dtype=torch.float32)
    base.update(kw)
    return BufferedStream(small_template(16), **base)  # type: ignore[arg-type]


@contextmanager
def _slow_batches(monkeypatch: pytest.MonkeyPatch, **kw: object
                  ) -> Iterator[tuple[Generator[dict, None, None], _SlowSimulator]]:
    """A stream's batches whose simulator fills the buffer of 16, then takes 30 s a chunk."""
    sim = _SlowSimulator(fill=16, delay=30.0)
    monkeypatch.setattr(replay, "simulate_draws", sim)
    batches = iter(_stream(**kw))
    assert isinstance(batches, Generator)
    try:
        yield batches, sim
    finally:
        sim.release.set()
        batches.close()


def test_after_the_fill_no_batch_waits_and_the_reuse_is_counted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with _slow_batches(monkeypatch) as (batches, _):  # a simulator far slower than the loop
        first = next(batches)
        t0 = time.perf_counter()
        got = [next(batches) for _ in range(20)]
        assert time.perf_counter() - t0 < 5.0  # 20 batches, not one 30 s simulation
    sid, simulated, drawn = got[-1]["buffer"].tolist()
    assert (sid, drawn) == (0, 21 * 8) and 16 <= simulated <= 20
    assert reuse_factor({sid: (simulated, drawn)}) >= 168 / 20
    plain = next(iter(SimulatedStream(small_template(16), batch_size=8)))
    assert set(first) == set(plain) | {"buffer"}
    assert all(first[k].shape == plain[k].shape for k in plain)


def test_the_same_seed_and_buffer_give_the_same_batches(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Reproducible as far as the design allows: with the same patterns in the buffer (here
    a simulator that stalls after the fill), the same seed draws and augments the same."""
    runs = []
    for seed in (3, 3, 4):
        with _slow_batches(monkeypatch, seed=seed) as (batches, _):
            runs.append([next(batches) for _ in range(3)])
    for a, b in zip(runs[0], runs[1], strict=True):
        assert all(torch.equal(a[k], b[k]) for k in ("x", "dist", "buffer"))
    assert not torch.equal(runs[0][0]["x"], runs[2][0]["x"])


def test_every_stream_simulates_its_own_patterns(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = {}
    for sid in (0, 1):
        monkeypatch.setattr(replay, "stream_id", lambda sid=sid: (sid, 2))
        with _slow_batches(monkeypatch, start=7) as (batches, sim):
            next(batches)
            keys[sid] = set(sim.keys[:4])
    assert keys[0] == {(5, 7, g) for g in (0, 2, 4, 6)}
    assert keys[1] == {(5, 7, g) for g in (1, 3, 5, 7)}


def test_a_failing_simulator_is_raised_by_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise ValueError("no physics today")

    monkeypatch.setattr(replay, "simulate_draws", broken)
    with pytest.raises(ValueError, match="no physics today"):
        next(iter(_stream()))
    with pytest.raises(UserError, match="at least a batch"):
        _stream(capacity=4)
    with pytest.raises(UserError, match="chunk"):
        _stream(chunk=0)
