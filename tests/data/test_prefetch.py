"""The prefetch thread: same items in the same order, errors re-raised, a clean stop."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import pytest
import torch
from torch.utils.data import DataLoader

from deepgisas.data.prefetch import Prefetcher
from deepgisas.data.stream import SimulatedStream
from deepgisas.errors import UserError
from tests.data.helpers import small_template


def test_items_arrive_in_order_and_the_end_ends() -> None:
    with Prefetcher(range(50), depth=3) as p:
        assert list(p) == list(range(50))
        assert next(p, "end") == "end"


def test_an_error_of_the_source_is_raised_in_the_loop() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise ValueError("worker died")

    p = Prefetcher(source())
    assert next(p) == 1
    with pytest.raises(ValueError, match="worker died"):
        next(p)
    with pytest.raises(UserError, match="depth"):
        Prefetcher(range(3), depth=0)


def test_close_stops_an_endless_source() -> None:
    made = itertools.count()
    p = Prefetcher(made, depth=2)
    assert next(p) == 0
    time.sleep(0.05)
    p.close(timeout=5)
    assert not any(t.name == "deepgisas-prefetch" and t.is_alive()
                   for t in threading.enumerate())
    assert next(made) <= 5  # it stopped pulling: the queue held 2, one more in hand


def test_a_worker_through_the_thread_gives_the_loaders_batches() -> None:
    stream = SimulatedStream(small_template(16), batch_size=4, seed=3, n_batches=4)
    direct = list(DataLoader(stream, batch_size=None, num_workers=1))
    with Prefetcher(DataLoader(stream, batch_size=None, num_workers=1)) as p:
        got = list(p)
    assert len(got) == len(direct) == 4
    for a, b in zip(direct, got, strict=True):
        assert a.keys() == b.keys()  # equal, NaN (a domain not drawn) included
        assert all(torch.allclose(a[k], b[k], rtol=0, atol=0, equal_nan=True) for k in a)
