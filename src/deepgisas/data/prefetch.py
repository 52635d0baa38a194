"""Batches of DataLoader workers, taken over by a background thread while the step runs.

A ready batch still costs the process that takes it from a DataLoader worker several
milliseconds: each tensor arrives as a shared-memory file whose descriptor is fetched from
the worker over a socket, and every hand-over waits for the other process to be scheduled.
On the 2-core machine of the benchmarks that was 4 ms for a batch of 2 tensors and 8 ms for
the 10 tensors of a hex-orientation batch (median, with the batch ready and waiting), 7 to
14 % of a `rodnet` step, spent by the training loop *after* the data had arrived
(``python benchmarks/data_throughput.py`` shows it side by side). :class:`Prefetcher` takes
the batches over in a thread, while the training step runs (torch's operations release the
GIL), so the loop finds them in memory. It yields the batches in the loader's order: what a
run sees, and its bit-for-bit resumption, do not change.

Two details keep the loop from paying for the thread on a busy CPU (measured on the shared
2-core machine, a `rodnet` loop fed from shards, the queue always full):

- the loop never wakes the thread. When taking a batch woke it (a bounded ``queue.Queue``),
  Linux let the woken thread preempt the loop on its core for its burst of unpickling: the
  loop waited a median 1.1 to 2.3 ms per batch (2.3 to 3.3 % of the time). The thread now
  looks for room every ``poll`` seconds instead: 0.3 ms, 0.5 %.
- the thread runs at nice 10, so that it mostly takes the data worker's spare cycles rather
  than the loop's (at nice 19 it starved and the queue ran dry).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

from deepgisas.errors import UserError

T = TypeVar("T")
NICE = 10  # of the prefetch thread (see above)


def lower_priority(nice: int) -> None:
    """Lower the calling thread's CPU priority to ``nice`` (Linux: this thread only); on
    other systems, or if not allowed, nothing."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError):
        pass


class _End:
    """The source is exhausted (or failed with ``error``)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Prefetcher(Generic[T]):
    """Iterate ``source`` in a background thread, keeping up to ``depth`` items ready.

    ``next()`` returns the items in order, re-raises an exception of the source in the
    calling thread, and ends when the source does. With ``depth`` items ready the thread
    sleeps ``poll`` seconds at a time (taking an item never wakes it). :meth:`close` (or
    leaving a ``with`` block) stops the thread and drops the source, so that a DataLoader
    iterator shuts its workers down; the thread finishes the item it is waiting for first.
    """

    def __init__(self, source: Iterable[T], depth: int = 2, poll: float = 0.005) -> None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise UserError(f"prefetch depth must be an integer >= 1, got {depth!r}")
        if not 0 < poll <= 1:
            raise UserError(f"prefetch poll must be in (0, 1] s, got {poll!r}")
        self.depth, self.poll = depth, poll
        self._queue: queue.SimpleQueue[T | _End] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._ended = False
        # the thread holds the only reference to the source's iterator, dropped when it ends
        self._thread = threading.Thread(target=self._run, args=(iter(source),),
                                        name="deepgisas-prefetch", daemon=True)
        self._thread.start()

    def _run(self, source: Iterator[T]) -> None:
        lower_priority(NICE)
        try:
            for item in source:
                while self._queue.qsize() >= self.depth and not self._stop.wait(self.poll):
                    pass
                if self._stop.is_set():
                    return
                self._queue.put(item)
            self._queue.put(_End())
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._queue.put(_End(exc))

    def __iter__(self) -> Prefetcher[T]:
        return self

    def __next__(self) -> T:
        if self._ended:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, _End):
            self._ended = True
            self.close()
            if item.error is not None:
                raise item.error
            raise StopIteration
        return item

    def close(self, timeout: float = 60.0) -> None:
        """Stop the thread (within ``timeout`` seconds) and drop the source and the items
        it had made."""
        self._stop.set()
        self._ended = True
        self._thread.join(timeout)
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
