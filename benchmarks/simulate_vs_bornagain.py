"""BornAgain 25 and deepgisas side by side: same experiments, same machine, same threads.

Draws N experiments (default 64) from hex-orientation.yaml (256 x 256 pixels, 1 to 5 domains;
``--template film``: the film's 128 x 128 grid, which the simulator halves by its mirror symmetry),
simulates them with BornAgain one by one and with deepgisas in batch mode, checks the accuracy,
and prints per-pattern times and their ratio: eager and with the fused kernels compiled
(deepgisas.physics.fused), each in float64, mixed precision (float64 with the sphere-like DWBA
terms in float32) and float32. The fused kernels' first pass
(compiling, or loading Inductor's cache) is timed apart. With ``--repeat R`` it times every
side R times (ours, then BornAgain, in turn) and prints each round's ratios and their median:
on a shared machine single rounds vary by 1.5x. ``--template`` takes several names, each timed
in turn; ``--device cuda`` runs ours on a GPU; ``--markdown`` writes their table into
docs/benchmarks.md ("Simulation speed"). Usage:

    python benchmarks/simulate_vs_bornagain.py [--n 64] [--threads 2] [--repeat 1] [--profile]
        [--template hex-orientation [film]] [--device cpu|cuda] [--markdown]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from _docs import add_markdown_option, ran, write_section  # type: ignore[import-not-found]

import deepgisas as dg
from deepgisas.physics import fused
from deepgisas.reference import bornagain_simulate

SIDES = ("float64", "mixed", "float32", "fused float64", "fused mixed", "fused float32")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="timed rounds (median reported)")
    ap.add_argument("--profile", action="store_true",
                    help="torch profiler tables of one eager and one fused float64 pass")
    ap.add_argument("--template", nargs="+", default=["hex-orientation"],
                    help="bundled templates to draw, each timed in turn")
    ap.add_argument("--device", default="cpu", help="where ours runs: cpu (default) or cuda")
    add_markdown_option(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [compare(name, args) for name in args.template]
    if args.write:
        write_section("## Simulation speed", [
            f"{ran()}: {args.n} draws per template, {args.threads} threads on each side, "
            f"ours on {args.device}, median of {args.repeat} round(s); milliseconds per "
            "pattern. Fused: the simulator's hot kernels compiled by torch.compile "
            "(`--fused`, deepgisas.physics.fused); its first pass, compiling or loading "
            "Inductor's cache, is timed apart. Mixed: float64 with the sphere-like DWBA "
            "terms in float32 (`simulate_batch(..., mixed=True)`).", "",
            "| template | pixels | BornAgain 25 | " + " | ".join(SIDES) +
            " | speed-up float64 / mixed / float32 | speed-up fused float64 / mixed / float32 "
            "| largest relative L2 " + " / ".join(SIDES) + " | fused first pass |",
            "|" + "---|" * (len(SIDES) + 7), *rows])


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
    def ours(side: str) -> np.ndarray:
        dtype = torch.float32 if side.endswith("float32") else torch.float64
        with fused.enabled(side.startswith("fused")):
            return dg.simulate_batch(exps, device=args.device, dtype=dtype,
                                     mixed=side.endswith("mixed"))

    first = {}
    for side in SIDES:
        t0 = time.perf_counter()
        ours(side)
        first[side] = time.perf_counter() - t0
    print("first pass, s: " + ", ".join(f"{k} {v:.1f}" for k, v in first.items()))
    bornagain_simulate(exps[0], threads=args.threads)
    times: list[list[float]] = []
    for rnd in range(args.repeat):
        row, images = [], {}
        for side in SIDES:  # the same order every round, then BornAgain
            t0 = time.perf_counter()
            images[side] = ours(side)
            row.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        refs = [bornagain_simulate(e, threads=args.threads) for e in exps]
        times.append([time.perf_counter() - t0, *row])
        if rnd == 0:
            errs = {side: [np.linalg.norm(o - r) / np.linalg.norm(r)
                           for o, r in zip(images[side], refs, strict=True)] for side in SIDES}
            print("relative L2 vs BornAgain, max (median): " + ", ".join(
                f"{k} {max(v):.2e} ({np.median(v):.2e})" for k, v in errs.items()))
        ms = np.array(times[-1]) / args.n * 1e3
        print(f"round {rnd + 1}: BornAgain {ms[0]:7.1f} ms; " + ", ".join(
            f"{k} {m:6.1f} ms ({ms[0] / m:.1f}x)" for k, m in zip(SIDES, ms[1:], strict=True))
            + " per pattern")
    ratio = np.median(np.array([[t[0] / x for x in t[1:]] for t in times]), axis=0)
    print("speed-up, median of rounds: " + ", ".join(
        f"{k} {r:.1f}x" for k, r in zip(SIDES, ratio, strict=True)))
    if args.profile:
        profile_sides(ours)
    ms = np.median(np.array(times), axis=0) / args.n * 1e3
    err = " / ".join(f"{max(errs[k]):.1e}" for k in SIDES)
    half = len(SIDES) // 2
    return (f"| {template} | {rows} x {cols} | {ms[0]:.0f} ms | "
            + " | ".join(f"{m:.1f} ms" for m in ms[1:]) + " | "
            + " / ".join(f"{r:.0f}x" for r in ratio[:half]) + " | "
            + " / ".join(f"{r:.0f}x" for r in ratio[half:]) + f" | {err} "
            f"| {sum(v for k, v in first.items() if k.startswith('fused')):.0f} s |")


def profile_sides(ours: Callable[[str], np.ndarray]) -> None:
    """torch.profiler's table of one eager and one fused float64 pass over the draws, and the
    share of the fused pass spent inside the compiled code."""
    from torch.profiler import ProfilerActivity, profile

    for side in ("float64", "fused float64"):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            ours(side)
            wall = time.perf_counter() - t0
        events = prof.key_averages()
        print(f"profile of one {side} pass ({wall * 1e3:.0f} ms):")
        print(events.table(sort_by="self_cpu_time_total", row_limit=15))
        compiled = sum(e.cpu_time_total for e in events
                       if e.key.startswith("Torch-Compiled Region"))
        if compiled:
            print(f"inside the compiled code: {compiled / 1e6:.3f} s of the pass's "
                  f"{wall:.3f} s ({compiled / 1e6 / wall:.0%})")


if __name__ == "__main__":
    main()
