"""BornAgain 25 and deepgisas side by side: same experiments, same machine, same threads.

Draws N experiments (default 64) from hex-orientation.yaml (256 x 256 pixels, 1 to 5 domains;
``--template film``: the film's 128 x 128 grid, which the simulator halves by its mirror symmetry),
simulates them with BornAgain one by one and with deepgisas in batch mode, checks the accuracy,
and prints per-pattern times and their ratio. With ``--repeat R`` it times both sides R
times (ours, then BornAgain, in turn) and prints each round's ratios and their median: on a
shared machine single rounds vary by 1.5x. ``--template`` takes several names, each timed
in turn; ``--markdown`` writes their table into docs/benchmarks.md ("Simulation speed"). Usage:

    python benchmarks/simulate_vs_bornagain.py [--n 64] [--threads 2] [--repeat 1] [--profile]
        [--template hex-orientation [film]] [--markdown]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _docs import add_markdown_option, ran, write_section  # type: ignore[import-not-found]

import deepgisas as dg
from deepgisas.reference import bornagain_simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="timed rounds (median reported)")
    ap.add_argument("--profile", action="store_true", help="torch profiler table of one batch")
    ap.add_argument("--template", nargs="+", default=["hex-orientation"],
                    help="bundled templates to draw, each timed in turn")
    add_markdown_option(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [compare(name, args) for name in args.template]
    if args.write:
        write_section("## Simulation speed", [
            f"{ran()}: {args.n} draws per template, {args.threads} threads on each side, "
            f"median of {args.repeat} round(s); milliseconds per pattern.", "",
            "| template | pixels | BornAgain 25 | float64 | float32 | speed-up float64 "
            "| speed-up float32 | largest relative L2 float64 / float32 |",
            "|---|---|---|---|---|---|---|---|", *rows])


def compare(template: str, args: argparse.Namespace) -> str:
    """Times one template's draws on both sides; prints the rounds and returns a table row."""
    exps = dg.sample_experiments(dg.load(template), args.n, seed=args.seed)
    orientations = [getattr(e.sample.interference, "orientation", None) for e in exps]
    domains = (f", domains per pattern: mean "
               f"{np.mean([len(o.xi_deg) for o in orientations]):.2f}"
               if all(o is not None for o in orientations) else "")
    rows, cols = exps[0].detector.shape
    print(f"{args.n} experiments of {template}, {rows} x {cols}{domains}, "
          f"threads {args.threads}")

    # warm-up, the same for both sides: one untimed pass. Ours pays one-off costs per batch
    # shape (allocator, kernels for each domain count); BornAgain's cost is per pattern.
    dg.simulate_batch(exps)
    dg.simulate_batch(exps, dtype=torch.float32)
    bornagain_simulate(exps[0], threads=args.threads)
    r64, r32, t = [], [], []
    for rnd in range(args.repeat):
        t0 = time.perf_counter()
        ours = dg.simulate_batch(exps)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours32 = dg.simulate_batch(exps, dtype=torch.float32)
        t32 = time.perf_counter() - t0
        # the same order every round: deepgisas float64, float32, then BornAgain
        t0 = time.perf_counter()
        refs = [bornagain_simulate(e, threads=args.threads) for e in exps]
        t_ba = time.perf_counter() - t0
        if rnd == 0:
            errs = [np.linalg.norm(o - r) / np.linalg.norm(r)
                    for o, r in zip(ours, refs, strict=True)]
            err32 = max(np.linalg.norm(o - r) / np.linalg.norm(r)
                        for o, r in zip(ours32, refs, strict=True))
            print(f"relative L2 vs BornAgain: max {max(errs):.2e}, median {np.median(errs):.2e}"
                  f" (float64); max {err32:.2e} (float32)")
        t.append((t_ba, t_ours, t32))
        r64.append(t_ba / t_ours)
        r32.append(t_ba / t32)
        print(f"round {rnd + 1}: BornAgain {t_ba / args.n * 1e3:7.1f} ms, deepgisas float64 "
              f"{t_ours / args.n * 1e3:6.1f} ms, float32 {t32 / args.n * 1e3:6.1f} ms per "
              f"pattern; speed-up {r64[-1]:.1f}x (float64), {r32[-1]:.1f}x (float32)")
    print(f"speed-up  : {np.median(r64):.1f}x (float64), {np.median(r32):.1f}x (float32), "
          f"median of {args.repeat} round(s)")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            dg.simulate_batch(exps[:16])
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    ms = np.median(np.array(t), axis=0) / args.n * 1e3
    return (f"| {template} | {rows} x {cols} | {ms[0]:.0f} ms | {ms[1]:.1f} ms | {ms[2]:.1f} ms "
            f"| {np.median(r64):.0f}x | {np.median(r32):.0f}x | {max(errs):.1e} / {err32:.1e} |")


if __name__ == "__main__":
    main()
