"""BornAgain 25 and deepgisas side by side: same experiments, same machine, same threads.

Draws N experiments (default 64) from hex-orientation.yaml (256 x 256 pixels, 1 to 5 domains),
simulates them with BornAgain one by one and with deepgisas in batch mode, checks the accuracy,
and prints per-pattern times and their ratio. Usage:

    python benchmarks/simulate_vs_bornagain.py [--n 64] [--threads 2] [--profile]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import deepgisas as dg
from deepgisas.reference import bornagain_simulate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true", help="torch profiler table of one batch")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    exps = dg.sample_experiments(dg.load("hex-orientation"), args.n, seed=args.seed)
    domains = [len(e.sample.interference.orientation.xi_deg) for e in exps]  # type: ignore[union-attr]
    print(f"{args.n} experiments, 256 x 256, domains per pattern: mean {np.mean(domains):.2f}, "
          f"threads {args.threads}")

    dg.simulate_batch(exps[:2])  # warm-up: the first call in a process pays one-off costs
    dg.simulate_batch(exps[:2], dtype=torch.float32)
    t0 = time.perf_counter()
    ours = dg.simulate_batch(exps)
    t_ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    refs = [bornagain_simulate(e, threads=args.threads) for e in exps]
    t_ba = time.perf_counter() - t0

    errs = [np.linalg.norm(o - r) / np.linalg.norm(r) for o, r in zip(ours, refs, strict=True)]
    print(f"relative L2 vs BornAgain: max {max(errs):.2e}, median {np.median(errs):.2e}")
    print(f"BornAgain : {t_ba / args.n * 1e3:8.1f} ms per pattern")
    print(f"deepgisas : {t_ours / args.n * 1e3:8.1f} ms per pattern (batch mode, float64)")
    t0 = time.perf_counter()
    ours32 = dg.simulate_batch(exps, dtype=torch.float32)
    t32 = time.perf_counter() - t0
    err32 = max(np.linalg.norm(o - r) / np.linalg.norm(r) for o, r in zip(ours32, refs,
                                                                         strict=True))
    print(f"deepgisas : {t32 / args.n * 1e3:8.1f} ms per pattern (batch mode, float32; "
          f"max relative L2 vs BornAgain {err32:.2e})")
    print(f"speed-up  : {t_ba / t_ours:.1f}x (float64), {t_ba / t32:.1f}x (float32)")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            dg.simulate_batch(exps[:16])
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
