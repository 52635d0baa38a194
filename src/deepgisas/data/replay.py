"""A replay buffer of clean simulations: the training loop never waits for the simulator.

:class:`BufferedStream` keeps ``capacity`` clean (un-augmented) patterns per stream. A
background thread of low CPU priority (nice 10) simulates new patterns as fast as the spare
CPU allows and replaces the oldest; every batch draws ``batch_size`` patterns at random from
the buffer and augments them afresh (noise, intensity scale, crop, beam stop, ...). After
the first fill a batch never waits for a simulation: the price is that a clean pattern is
seen several times, each time with other noise. Each batch carries the counts to say how often
(``"buffer"``: stream, patterns simulated, patterns drawn; :func:`reuse_factor`), and the
training loop records that reuse factor per epoch and in the model card.

Why nice 10 and not 19: the simulating thread shares the worker's GIL with the thread that
serves the batches. At nice 19 on a busy machine it was sometimes not scheduled while it
held the GIL, and the serving thread (and then the loop) waited for it: 30 to 50 ms stalls,
an empty queue in some runs. At nice 10 none were seen, with the same reuse.

Seeding: stream ``s`` of ``S`` (DataLoader workers x distributed ranks) simulates its
``c``-th chunk from ``SeedSequence(seed, spawn_key=(5, start, s + c S))`` and draws and
augments from a generator seeded by ``SeedSequence(seed, spawn_key=(6, start, s))``: every
worker and rank has its own patterns, and a run resumed at step ``start`` its own new ones.
*Which* patterns a draw finds in the buffer depends on how fast the simulator ran, so a run
with a buffer is not reproducible bit for bit, nor resumable bit for bit (without a buffer,
training is both).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

import numpy as np
import torch
from torch.utils.data import IterableDataset

from deepgisas.data.labels import LabelSpace, record
from deepgisas.data.prefetch import lower_priority
from deepgisas.data.stream import Augment, generator, simulate_draws, stream_id, to_batch
from deepgisas.errors import UserError
from deepgisas.templates import Template

SIMULATOR_NICE = 10  # CPU priority of the simulating thread (see above)


def _pad_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` NaN-padded at the end of its trailing axes to ``shape`` (orientations of more
    domains than before)."""
    if a.shape[1:] == shape:
        return a
    out = np.full((a.shape[0], *shape), np.nan, dtype=a.dtype)
    out[(slice(None), *(slice(0, n) for n in a.shape[1:]))] = a
    return out


class ReplayBuffer:
    """``capacity`` patterns (intensity float32 [H, W], labels, drawn parameters) in slots;
    :meth:`add` replaces the oldest, :meth:`sample` draws with replacement. Thread-safe.

    ``added`` and ``drawn`` count the patterns put in and taken out: ``drawn / added`` is how
    many times a clean pattern has been seen on average (the reuse factor).
    """

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise UserError(f"buffer capacity must be an integer >= 1, got {capacity!r}")
        self.capacity = capacity
        self.added = self.drawn = 0
        self._arrays: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._grown = threading.Condition(self._lock)

    @property
    def size(self) -> int:
        """Patterns held (``capacity`` once full)."""
        return min(self.added, self.capacity)

    def add(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Put ``n`` patterns in: every array has ``n`` rows (the same names every time)."""
        n = len(next(iter(arrays.values())))
        with self._lock:
            slots = (self.added + np.arange(n)) % self.capacity
            for name, a in arrays.items():
                have = self._arrays.get(name)
                if have is None:
                    have = np.full((self.capacity, *a.shape[1:]), np.nan, dtype=a.dtype)
                shape = tuple(max(i, j) for i, j in zip(have.shape[1:], a.shape[1:],
                                                         strict=True))
                have = _pad_to(have, shape)
                have[slots] = _pad_to(a, shape)
                self._arrays[name] = have
            self.added += n
            self._grown.notify_all()

    def wait_until(self, n: int, timeout: float | None = None) -> bool:
        """Block until the buffer holds ``n`` patterns (or ``timeout`` s); whether it does."""
        with self._grown:
            return self._grown.wait_for(lambda: self.size >= n, timeout)

    def sample(self, n: int, gen: torch.Generator) -> dict[str, np.ndarray]:
        """``n`` patterns drawn uniformly, with replacement, from those held (copies)."""
        with self._lock:
            if self.size == 0:
                raise RuntimeError("sample from an empty replay buffer")
            idx = torch.randint(self.size, (n,), generator=gen).numpy()
            self.drawn += n
            return {name: a[idx] for name, a in self._arrays.items()}


def take_counts(batch: dict, counts: dict[int, tuple[int, int]]) -> None:
    """Move a :class:`BufferedStream` batch's ``"buffer"`` entry (stream, simulated, drawn)
    into ``counts`` {stream: (simulated, drawn)}; other batches are left alone."""
    if "buffer" in batch:
        sid, simulated, drawn = batch.pop("buffer").tolist()
        counts[sid] = (simulated, drawn)


def reuse_factor(counts: Mapping[int, tuple[int, int]]) -> float | None:
    """Patterns drawn per pattern simulated, over streams ``{stream: (simulated, drawn)}``."""
    simulated = sum(c[0] for c in counts.values())
    drawn = sum(c[1] for c in counts.values())
    return drawn / simulated if simulated else None


class BufferedStream(IterableDataset):
    """An endless stream of batches drawn from a replay buffer of ``capacity`` clean
    simulations per stream, each draw augmented afresh; a low-priority thread refills it
    with ``chunk`` new simulations at a time. The first batch waits for a full buffer.

    Batches hold what :class:`SimulatedStream`'s do (``params=False``: without the drawn
    numbers), plus ``"buffer"``: int64 [3], the stream's index and its patterns simulated
    and drawn so far. Memory: ``capacity`` x rows x cols x 4 bytes, and the labels.
    """

    def __init__(self, template: Template, capacity: int, batch_size: int = 16,
                 seed: int = 0, augment: Augment | None = None, chunk: int = 8,
                 dtype: torch.dtype = torch.float64, mask_channel: bool = True,
                 start: int = 0, params: bool = True) -> None:
        super().__init__()
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise UserError(f"chunk must be an integer >= 1, got {chunk!r}")
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < batch_size:
            raise UserError(f"the buffer must hold at least a batch ({batch_size}), got "
                            f"{capacity!r}")
        self.template, self.capacity, self.batch_size = template, capacity, batch_size
        self.seed, self.augment, self.chunk, self.dtype = seed, augment, chunk, dtype
        self.mask_channel, self.start, self.params = mask_channel, start, params
        self.labels = LabelSpace.of(template)

    def _simulate(self, buf: ReplayBuffer, sid: int, n_streams: int,
                  stop: threading.Event) -> None:
        lower_priority(SIMULATOR_NICE)  # the serving thread and the loop come first
        c = 0
        while not stop.is_set():
            ss = np.random.SeedSequence(self.seed, spawn_key=(5, self.start, sid + c * n_streams))
            clean = simulate_draws(self.template, self.chunk, ss, self.labels, self.dtype)
            buf.add({"intensity": clean.intensity, **{f"l:{k}": v for k, v in
                                                      clean.labels.items()},
                     **({f"p:{k}": v for k, v in record(clean.draws).items()}
                        if self.params else {})})
            c += 1

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        sid, n_streams = stream_id()
        buf, stop = ReplayBuffer(self.capacity), threading.Event()
        failed: list[BaseException] = []

        def simulate() -> None:
            try:
                self._simulate(buf, sid, n_streams, stop)
            except BaseException as exc:  # raised by the stream, in the loop's process
                failed.append(exc)

        thread = threading.Thread(target=simulate, name="deepgisas-simulate", daemon=True)
        thread.start()
        gen = generator(np.random.SeedSequence(self.seed, spawn_key=(6, self.start, sid)), "cpu")
        try:
            while not buf.wait_until(self.capacity, timeout=0.1):
                if failed:
                    raise failed[0]
            while True:
                if failed:
                    raise failed[0]
                a = buf.sample(self.batch_size, gen)
                batch = to_batch(a["intensity"], {k[2:]: v for k, v in a.items()
                                                  if k.startswith("l:")},
                                 {k[2:]: v for k, v in a.items() if k.startswith("p:")},
                                 self.augment, gen, "cpu", self.mask_channel)
                batch["buffer"] = torch.tensor([sid, buf.added, buf.drawn])
                yield batch
        finally:  # the thread ends after its chunk: none left simulating at exit
            stop.set()
            thread.join()
