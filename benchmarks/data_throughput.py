"""Training-data throughput for the talk's sample, side by side in one run.

Patterns per second, 256 x 256, 1 to 5 domains (hex-orientation.yaml):
  (a) on-the-fly deepgisas simulation (float32, as training uses it) with the talk's
      augmentation, downsampled to the compact network's input, and a mask channel;
  (b) the sharded reader (ShardDataset) with the same augmentation, from shards made here;
  (c) BornAgain 25 simulating the same experiments as (a).
  (d) the augmentation alone on the same clean batch: per pixel at 256 x 256 as in the talk
      (Poisson per pixel, log, then averaged down) against ``--bin-counts`` (crop and bin
      counts to the 56 x 112 input first, then Poisson and log): the ratio.
Then the training loop of the network (``--arch``, with the bundled hex-orientation model's
input: binned counts, crop jitter 2) fed by one DataLoader worker (the loop gets the other
core), and the share of wall time it waits for data, with its images per second:
  - old: the DataLoader's own iterator, batches with every drawn number (``p:PATH``);
  - new: as ``deepgisas train`` feeds its loop now: labels only (``params=False``), taken over
    by the prefetch thread (``deepgisas.data.Prefetcher``); the ratio of images per second.
Each from shards (b) and on the fly (a) with the training default of 4 augmented views per
simulation, and on the fly through a replay buffer (``--buffer``, ``BufferedStream``: the
new way has one more option), with the reuse factor it reached (each simulation seen that
many times on average). The runs alternate ``--rounds`` times (medians): the machine may be
shared. Usage:

    python benchmarks/data_throughput.py [--n 64] [--batch 16] [--threads 2] [--steps 60]
                                         [--arch rodnet] [--rounds 1] [--buffer 256]
                                         [--loops-only]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

import deepgisas as dg
from deepgisas.data.generate import generate
from deepgisas.data.prefetch import Prefetcher
from deepgisas.data.preprocess import default_input
from deepgisas.data.replay import BufferedStream, reuse_factor, take_counts
from deepgisas.data.shard_dataset import ShardDataset
from deepgisas.data.stream import Augment, SimulatedStream
from deepgisas.models import create_model
from deepgisas.reference import bornagain_simulate
from deepgisas.templates import draw_parameters, instantiate


def rate(batches: Iterable[dict], n_batches: int) -> float:
    """Patterns per second over ``n_batches`` batches (after one warm-up batch)."""
    it = iter(batches)
    next(it)
    t0, n = time.perf_counter(), 0
    for _ in range(n_batches):
        n += next(it)["x"].shape[0]
    return n / (time.perf_counter() - t0)


def augment_rate(aug: object, clean: torch.Tensor, reps: int = 5) -> float:
    """Images per second of ``aug`` alone on a clean batch [B, H, W]."""
    gen = torch.Generator().manual_seed(0)
    aug(clean, gen=gen)  # type: ignore[operator]
    t0 = time.perf_counter()
    for _ in range(reps):
        aug(clean, gen=gen)  # type: ignore[operator]
    return reps * clean.shape[0] / (time.perf_counter() - t0)


def train_wait(batches: Iterator[dict], steps: int, in_chans: int, arch: str = "compact",
               warmup: int = 10) -> tuple[float, float, float | None]:
    """(fraction of time waiting for data, training images per second, reuse factor of a
    replay buffer or None) for ``arch``, over ``steps`` steps after ``warmup`` steps (the
    worker's start and the first batches)."""
    torch.manual_seed(0)
    net = create_model(arch, in_chans=in_chans, num_outputs=120)
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    next(batches)  # workers started, first batch ready
    wait = busy = 0.0
    n = 0
    counts: dict[int, tuple[int, int]] = {}
    for step in range(warmup + steps):
        if step == warmup:  # steady state: count from here
            wait = busy = 0.0
            n = 0
        t0 = time.perf_counter()
        b = next(batches)
        t1 = time.perf_counter()
        take_counts(b, counts)
        loss = torch.nn.functional.kl_div(torch.log_softmax(net(b["x"]), 1), b["dist"],
                                          reduction="batchmean")
        opt.zero_grad()
        loss.backward()
        opt.step()
        t2 = time.perf_counter()
        wait, busy, n = wait + (t1 - t0), busy + (t2 - t1), n + b["x"].shape[0]
    return wait / (wait + busy), n / (wait + busy), reuse_factor(counts)


Loop = tuple[str, Callable[[], IterableDataset], bool, str | None]


def loops(runs: list[Loop], args: argparse.Namespace) -> None:
    """The training loop fed by one DataLoader worker, for each ``(name, make dataset,
    through the prefetch thread?, name of the run to compare with)``, alternating ``--rounds``
    times (the machine may be shared); medians over the rounds."""
    results: dict[str, list[tuple[float, float, float | None]]] = {}
    for _ in range(args.rounds):
        for name, make, prefetch, _ref in runs:
            loader = DataLoader(make(), batch_size=None, num_workers=1, prefetch_factor=4)
            if prefetch:
                with Prefetcher(loader) as p:
                    r = train_wait(p, args.steps, in_chans=2, arch=args.arch)
            else:
                r = train_wait(iter(loader), args.steps, in_chans=2, arch=args.arch)
            results.setdefault(name, []).append(r)
    med = {name: (float(np.median([r[0] for r in rs])), float(np.median([r[1] for r in rs])),
                  rs[-1][2]) for name, rs in results.items()}
    for name, _make, _prefetch, ref in runs:
        w, ips, reuse = med[name]
        line = f"  {name:30s}: waiting {100 * w:4.1f} % of the time, {ips:6.1f} images/s"
        if ref is not None:
            line += f" ({ips / med[ref][1]:.2f}x the old images/s)"
        if reuse is not None:
            line += f"; each simulation seen {reuse:.1f} times"
        print(line)


def rates(template: dg.Template, aug: Augment, per_pixel: Augment, tmp: str,
          args: argparse.Namespace) -> None:
    """(a) to (d): patterns per second of each way of making data, in this process."""
    nb = args.n // args.batch
    stream = SimulatedStream(template, batch_size=args.batch, seed=1, augment=aug,
                             dtype=torch.float32)
    r_a = rate(stream, nb)
    print(f"(a) on the fly (simulate + augment):  {r_a:8.1f} patterns/s")

    shards = ShardDataset(tmp, batch_size=args.batch, augment=aug, epochs=None)
    r_b = rate(shards, nb)
    print(f"(b) sharded reader (read + augment):  {r_b:8.1f} patterns/s")

    draws = draw_parameters(template, args.n, np.random.SeedSequence(3))
    exps = instantiate(template, draws)
    t0 = time.perf_counter()
    for e in exps:
        bornagain_simulate(e, threads=args.threads)
    r_c = args.n / (time.perf_counter() - t0)
    print(f"(c) BornAgain 25 (simulate only):     {r_c:8.1f} patterns/s")
    print(f"ratios: (a)/(c) {r_a / r_c:.1f}x, (b)/(c) {r_b / r_c:.1f}x")

    clean = torch.from_numpy(dg.simulate_batch(exps[: args.batch], dtype=torch.float32))
    a_pix, a_bin = augment_rate(per_pixel, clean), augment_rate(aug, clean)
    print(f"(d) augmentation alone: per pixel {a_pix:8.1f} images/s, binned counts "
          f"{a_bin:8.1f} images/s ({a_bin / a_pix:.1f}x)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64, help="patterns per measurement")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60, help="training steps per loop, counted "
                    "after 10 warm-up steps")
    ap.add_argument("--arch", default="rodnet", help="network of the training loops")
    ap.add_argument("--rounds", type=int, default=1, help="alternations of the loops")
    ap.add_argument("--loops-only", action="store_true", help="skip (a) to (d)")
    ap.add_argument("--buffer", type=int, default=256,
                    help="replay buffer of the on-the-fly loop with a buffer (256 patterns)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    template = dg.load("hex-orientation")
    per_pixel = default_input((256, 256), "compact")
    spec = default_input((256, 256), args.arch, bin_counts=True, jitter=2)
    aug = spec.train()
    print(f"hex-orientation, 256 x 256, 1 to 5 domains; batch {args.batch}, "
          f"{args.threads} threads; talk augmentation on binned counts + mask channel")

    with tempfile.TemporaryDirectory() as tmp:
        generate(template, args.n + args.batch, tmp, shard_size=args.batch * 4, seed=2,
                 progress=False)
        if not args.loops_only:
            rates(template, aug, per_pixel.train(), tmp, args)
        torch.set_num_threads(max(1, args.threads - 1))  # one core for the data worker
        print(f"{args.arch} training loops, one data worker, median of {args.rounds} "
              "round(s); old: the DataLoader's iterator, batches with every drawn number; "
              "new: as `deepgisas train` now feeds its loop (labels only, prefetch thread)")

        def shards(new: bool) -> IterableDataset:
            return ShardDataset(tmp, batch_size=args.batch, augment=aug, epochs=None,
                                params=not new)

        def views(new: bool) -> IterableDataset:
            return SimulatedStream(template, batch_size=args.batch, seed=4, augment=aug,
                                   repeats=4, dtype=torch.float32, params=not new)

        def buffered() -> IterableDataset:
            return BufferedStream(template, args.buffer, batch_size=args.batch, seed=4,
                                  augment=aug, dtype=torch.float32, params=False)

        old_s, old_f = "shards, old", "on the fly, 4 views, old"
        loops([(old_s, lambda: shards(False), False, None),
               ("shards, new", lambda: shards(True), True, old_s),
               (old_f, lambda: views(False), False, None),
               ("on the fly, 4 views, new", lambda: views(True), True, old_f),
               (f"on the fly, --buffer {args.buffer}, new", buffered, True, old_f)], args)

if __name__ == "__main__":
    main()
