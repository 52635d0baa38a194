"""Training-data throughput for the talk's sample, side by side in one run.

Patterns per second, 256 x 256, 1 to 5 domains (hex-orientation.yaml):
  (a) on-the-fly deepgisas simulation (float32, as training uses it) with the talk's
      augmentation, downsampled to the compact network's input, and a mask channel;
  (b) the sharded reader (ShardDataset) with the same augmentation, from shards made here;
  (c) BornAgain 25 simulating the same experiments as (a).
  (d) the augmentation alone on the same clean batch: per pixel at 256 x 256 as in the talk
      (Poisson per pixel, log, then averaged down) against ``--bin-counts`` (crop and bin
      counts to the 56 x 112 input first, then Poisson and log): the ratio.
Then a training loop of the network (``--arch``, with the bundled hex-orientation model's
input: binned counts, crop jitter 2) fed by a DataLoader worker from (a) (with the training
default of 4 augmented views per simulation) and from (b): the fraction of wall time the loop
waits for data. Usage:

    python benchmarks/data_throughput.py [--n 64] [--batch 16] [--threads 2] [--steps 60]
                                         [--arch rodnet]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterable

import numpy as np
import torch
from torch.utils.data import DataLoader

import deepgisas as dg
from deepgisas.data.generate import generate
from deepgisas.data.preprocess import default_input
from deepgisas.data.shard_dataset import ShardDataset
from deepgisas.data.stream import SimulatedStream
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


def train_wait(loader: DataLoader, steps: int, in_chans: int, arch: str = "compact",
               warmup: int = 10) -> tuple[float, float]:
    """(fraction of time waiting for data, training images per second) for ``arch``, over
    ``steps`` steps after ``warmup`` steps (the worker's start and the first batches)."""
    torch.manual_seed(0)
    net = create_model(arch, in_chans=in_chans, num_outputs=120)
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    it = iter(loader)
    next(it)  # workers started, first batch ready
    wait = busy = 0.0
    n = 0
    for step in range(warmup + steps):
        if step == warmup:  # steady state: count from here
            wait = busy = 0.0
            n = 0
        t0 = time.perf_counter()
        b = next(it)
        t1 = time.perf_counter()
        loss = torch.nn.functional.kl_div(torch.log_softmax(net(b["x"]), 1), b["dist"],
                                          reduction="batchmean")
        opt.zero_grad()
        loss.backward()
        opt.step()
        t2 = time.perf_counter()
        wait, busy, n = wait + (t1 - t0), busy + (t2 - t1), n + b["x"].shape[0]
    return wait / (wait + busy), n / (wait + busy)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64, help="patterns per measurement")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60, help="training steps per loop, counted "
                    "after 10 warm-up steps")
    ap.add_argument("--arch", default="rodnet", help="network of the training loops")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    template = dg.load("hex-orientation")
    nb = args.n // args.batch
    per_pixel = default_input((256, 256), "compact")
    spec = default_input((256, 256), args.arch, bin_counts=True, jitter=2)
    aug = spec.train()
    print(f"hex-orientation, 256 x 256, 1 to 5 domains; batch {args.batch}, "
          f"{args.threads} threads; talk augmentation on binned counts + mask channel")

    stream = SimulatedStream(template, batch_size=args.batch, seed=1, augment=aug,
                             dtype=torch.float32)
    r_a = rate(stream, nb)
    print(f"(a) on the fly (simulate + augment):  {r_a:8.1f} patterns/s")

    with tempfile.TemporaryDirectory() as tmp:
        generate(template, args.n + args.batch, tmp, shard_size=args.batch * 4, seed=2,
                 progress=False)
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
        a_pix, a_bin = augment_rate(per_pixel.train(), clean), augment_rate(aug, clean)
        print(f"(d) augmentation alone: per pixel {a_pix:8.1f} images/s, binned counts "
              f"{a_bin:8.1f} images/s ({a_bin / a_pix:.1f}x)")

        torch.set_num_threads(max(1, args.threads - 1))  # one core for the data worker
        for name, ds in (("on the fly", SimulatedStream(template, batch_size=args.batch,
                                                         seed=4, augment=aug, repeats=4,
                                                         dtype=torch.float32)),
                         ("shards", ShardDataset(tmp, batch_size=args.batch, augment=aug,
                                                 epochs=None))):
            loader = DataLoader(ds, batch_size=None, num_workers=1, prefetch_factor=4,
                                persistent_workers=False)
            w, ips = train_wait(loader, args.steps, in_chans=2, arch=args.arch)
            print(f"{args.arch} training from {name:10s}: {ips:6.1f} images/s, "
                  f"waiting for data {100 * w:4.1f} % of the time")


if __name__ == "__main__":
    main()
