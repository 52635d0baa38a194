"""Fitting the film template: deepgisas fit --model film against a BornAgain 25 fit, one run.

The data: BornAgain 25's simulation of one draw from the film template's priors (128 x 128, the
bundled model's grid; ``--data deepgisas``: ours, as each fit is favoured by data from its own
simulator, and the two differ by ~3e-4 relative), with Poisson noise (``--counts`` at the 99th
percentile). Both fits fit the six free parameters plus a scale and a background with the
same soft-L1 log-intensity misfit, from the same start (the bundled network's prediction;
alpha_i, which it does not predict, at its prior centre), on one thread each:

  (a) deepgisas: ``deepgisas.fit.files`` as ``deepgisas fit film IMAGE --model film`` runs it
      (network prediction; its mean and draws, alpha_i filled in from prior points, screened on
      every 4th pixel of every 4th row; Levenberg-Marquardt on that subset, then every 2nd, then
      all pixels, Jacobians by finite differences in one simulator batch; Laplace standard
      deviations from the last Jacobian), then every parameter profiled across its prior on
      the full detector for valleys the search did not reach (``FitConfig.profile``);
  (a') the same search without the profiles (``FitConfig(profile=0)``): the same task as (b),
      a local fit from the given start;
  (b) BornAgain 25: its Python API has no minimiser of its own (no FitObjective / Minimizer in
      the 25.0.0 wheel; ``ba_fit`` only helps external least-squares minimisers), so its fit is
      scipy.optimize.least_squares (trust-region reflective, finite-difference Jacobian,
      loss="soft_l1") on BornAgain simulations, at most ``--max-nfev`` simulations.

Prints wall time and parameter errors (in units of each prior's width, and relative) of each,
the difference between the fits, and the speed ratios of (b) to (a) and to (a'); ``--fused``
times (a) and (a') with the fused kernels compiled too (``deepgisas.physics.fused``, after an
untimed first pass per draw that compiles or loads Inductor's cache). With ``--repeat R`` each
fit runs R times (alternating) and the median times are compared (the machine may be
shared). With several seeds (``--seed 2 3 4``) each draw is fitted so, and the mean errors
over the draws and the median time over all runs are printed last. ``--markdown`` writes a
row per draw into docs/benchmarks.md ("Fit speed"). Usage:

    python benchmarks/fit_vs_bornagain.py [--seed 2 ...] [--counts 1e4] [--max-nfev 200]
        [--repeat 3] [--fused] [--profile] [--markdown]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from _docs import add_markdown_option, ran, write_section  # type: ignore[import-not-found]
from scipy.optimize import least_squares

import deepgisas as dg
from deepgisas.fit import FitConfig, FitResult, fit_image
from deepgisas.fit.files import network_start, network_starts
from deepgisas.fit.objectives import DELTA, soft_l1
from deepgisas.fit.problem import Problem
from deepgisas.fit.tensors import free_tensors
from deepgisas.physics import fused
from deepgisas.physics.memory import retain_freed_memory
from deepgisas.reference import bornagain_simulate
from deepgisas.templates import draw_parameters, instantiate


def errors(values: dict[str, float], truth: dict[str, float], width: dict[str, float]
           ) -> tuple[float, float]:
    """Mean |error| / prior width and median relative error."""
    unit = np.mean([abs(values[k] - truth[k]) / width[k] for k in truth])
    rel = np.median([abs(values[k] - truth[k]) / abs(truth[k]) for k in truth])
    return float(unit), float(rel)


def variants(args: argparse.Namespace) -> list[str]:
    """The deepgisas fits timed: the default fit and the search alone, eager, and fused too
    with ``--fused``."""
    return ["fit", "search only"] + (["fused fit", "fused search only"] if args.fused else [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_markdown_option(ap)
    ap.add_argument("--seed", type=int, nargs="+", default=[2],
                    help="one draw from the priors per seed (several: errors averaged)")
    ap.add_argument("--counts", type=float, default=1e4)
    ap.add_argument("--data", choices=("bornagain", "deepgisas"), default="bornagain",
                    help="the simulator that makes the data (each fit is favoured by its own)")
    ap.add_argument("--max-nfev", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--fused", action="store_true",
                    help="also time both deepgisas fits with the fused kernels compiled "
                         "(deepgisas.physics.fused), after an untimed first pass per draw "
                         "(compiling, or loading Inductor's cache), reported apart")
    ap.add_argument("--profile", action="store_true",
                    help="where an eager fit's time goes: its simulator calls by grid and "
                         "batch, the rest apart")
    args = ap.parse_args()
    torch.set_num_threads(1)
    retain_freed_memory()  # as the deepgisas command does (deepgisas.physics.memory)
    print(f"film template, 128 x 128, data simulated by {args.data}, Poisson noise at "
          f"{args.counts:g} counts; one thread each")
    names = variants(args)
    times: dict[str, list[float]] = {v: [] for v in [*names, "BornAgain"]}
    errs: dict[str, list[float]] = {"network": [], "deepgisas": [], "search only": [],
                                    "BornAgain": []}
    apart: list[float] = []
    first: list[float] = []
    rows: list[str] = []
    for seed in args.seed:
        case = fit_case(seed, args)
        if case is None:
            continue
        for v in times:
            times[v] += case["times"][v]
        for k in errs:
            errs[k].append(case["errors"][k])
        apart.append(case["apart"])
        first.append(case["first"])
        e = case["errors"]
        med = {v: float(np.median(t)) for v, t in case["times"].items()}
        b = med["BornAgain"]
        rows.append(f"| {seed} | " + " | ".join(
            f"{med[v]:.2f} s ({case['sims'][v]})" for v in names) +
            f" | {b:.1f} s ({case['sims']['BornAgain']}) | " +
            " | ".join(f"{b / med[v]:.0f}x" for v in names) +
            f" | {e['deepgisas']:.5f} / {e['BornAgain']:.5f} | {case['apart']:.2f} |")
    if not rows:
        return
    med = {v: float(np.median(t)) for v, t in times.items()}
    t_b = med["BornAgain"]
    if len(errs["deepgisas"]) > 1:
        print(f"over {len(errs['deepgisas'])} cases, mean |error|/width: " + ", ".join(
            f"{k} {np.mean(v):.5f}" for k, v in errs.items())
            + f"; largest |deepgisas - BornAgain| / std {max(apart):.2f}")
    print(f"median of {len(times['fit'])} runs: BornAgain {t_b:.1f} s; " + ", ".join(
        f"{v} {med[v]:.2f} s ({t_b / med[v]:.1f}x)" for v in names))
    if args.write:
        fused_text = (" \"fused\": the same with the fused kernels compiled (`fit --fused`); "
                      "their first pass per draw (compiling, or loading Inductor's cache) is "
                      f"not timed: {first[0]:.0f} s for the first draw, "
                      f"{np.median(first[1:] or first):.0f} s (median) for the others."
                      if args.fused else "")
        write_section("## Fit speed", [
            f"{ran()}: the `film` template's draw of each seed, simulated by {args.data} with "
            f"Poisson noise at {args.counts:g} counts, fitted from the bundled network's start "
            "by `deepgisas fit` and by BornAgain 25 + scipy `least_squares`, with the same "
            "soft-L1 log misfit, one thread each; medians of "
            f"{max(args.repeat, 1)} run(s) per draw. \"search only\" is `deepgisas fit` "
            "without its parameter profiles (`FitConfig(profile=0)`), the same task as "
            "`least_squares`: a local fit from the network's start; the profiles then step "
            "every parameter across its prior on the full detector (one simulation per point) "
            "for valleys the search did not reach." + fused_text, "",
            "| seed | " + " | ".join(f"deepgisas {v} (simulations)" for v in names) +
            " | BornAgain + least_squares (simulations) | " +
            " | ".join(f"speed-up {v}" for v in names) +
            " | mean abs error / prior width, deepgisas / BornAgain "
            "| largest difference of the fits, in deepgisas std |",
            "|" + "---|" * (2 * len(names) + 4), *rows, "",
            f"Median over all {len(times['fit'])} runs: BornAgain {t_b:.1f} s; " + ", ".join(
                f"{v} {med[v]:.2f} s ({t_b / med[v]:.0f}x)" for v in names) + "."])


def fit_case(seed: int, args: argparse.Namespace) -> dict[str, Any] | None:
    """Both fits of the draw ``seed``, ``args.repeat`` times each, alternating; prints the
    case and returns its times, mean |error|/width per fit and the largest difference of the
    two fits in deepgisas standard deviations (None if BornAgain refuses the draw)."""
    template = dg.load("film")
    free = free_tensors(template)
    draws = draw_parameters(template, 1, seed=seed)
    truth = {q.name: draws[q.path][0] for q in free.params}
    width = {q.name: q.prior.hi - q.prior.lo for q in free.params}
    try:
        clean = (bornagain_simulate(instantiate(template, draws)[0], threads=1)
                 if args.data == "bornagain" else dg.simulate(instantiate(template, draws)[0]))
    except RuntimeError as err:  # e.g. "Volume of sample components exceeds base volume"
        print(f"seed {seed}: BornAgain refuses the draw ({str(err).splitlines()[-1]}); skipped")
        return None
    k = args.counts / np.nanpercentile(clean, 99)
    data = np.random.default_rng(seed).poisson(clean * k) / k
    print(f"seed {seed}, truth:", {n: round(v, 4) for n, v in truth.items()})

    # (b) BornAgain 25 + scipy least_squares, same misfit, same start (the network's mean)
    mask = np.isfinite(data)
    c = FitConfig().floor * float(np.percentile(data[mask & (data > 0)], 99))
    logd = np.log(np.clip(data[mask], 0, None) + c)
    paths = [q.path for q in free.params]
    nfev = [0]

    def residuals(x: np.ndarray) -> np.ndarray:
        nfev[0] += 1
        values = {p: [float(q.prior.from_unit(x[i]))] for i, (p, q) in
                  enumerate(zip(paths, free.params, strict=True))}
        try:
            sim = bornagain_simulate(instantiate(template, values)[0], threads=1)[mask]
        except Exception:  # BornAgain refuses some geometries (overlapping particles)
            return np.full(logd.shape, 10.0)
        return np.log(np.exp(x[-2]) * sim + np.exp(x[-1]) + c) - logd

    def ours(profile: int = FitConfig.profile) -> tuple[FitResult, dict[str, Any]]:
        net = network_start("film", "benchmark", None, template, data)
        # BornAgain's side minimises the same log misfit from the same start only
        cfg = FitConfig(objective="log", explore=False, profile=profile)
        return fit_image(template, data, start=network_starts(net, template, cfg),
                         config=cfg), net

    def bornagain(start: dict[str, float]) -> Any:
        nfev[0] = 0
        theta0 = np.clip([float(q.prior.to_unit(start[q.name])) for q in free.params], 0.001,
                         0.999)
        sim0 = bornagain_simulate(instantiate(template, {p: [start[q.name]] for p, q in zip(
            paths, free.params, strict=True)})[0], threads=1)[mask]
        x0 = np.concatenate([theta0, [np.log(data[mask].sum() / sim0.sum()), np.log(c * 1e-2)]])
        lo = np.concatenate([np.zeros(len(paths)), [-np.inf, -np.inf]])
        hi = np.concatenate([np.ones(len(paths)), [np.inf, np.inf]])
        return least_squares(residuals, x0, bounds=(lo, hi), loss="soft_l1", f_scale=DELTA,
                             diff_step=1e-3, max_nfev=args.max_nfev)

    def timed(variant: str) -> tuple[float, FitResult, dict[str, Any]]:
        gc.collect()
        with fused.enabled(variant.startswith("fused")):
            t0 = time.perf_counter()
            result, net = ours(profile=0 if variant.endswith("search only") else
                               FitConfig.profile)
            return time.perf_counter() - t0, result, net

    names = variants(args)
    first = sum(timed(v)[0] for v in names if v.startswith("fused"))  # compile or load
    times: dict[str, list[float]] = {v: [] for v in [*names, "BornAgain"]}
    results: dict[str, FitResult] = {}
    for _ in range(max(args.repeat, 1)):
        # each timed fit starts with the other's garbage collected: a BornAgain fit leaves
        # enough Python objects that a collection inside the next fit cost 0.13 s
        for v in names:
            seconds, results[v], net = timed(v)
            times[v].append(seconds)
        start = {**{q.name: float(q.prior.from_unit(0.5)) for q in free.params},
                 **net["parameters"]}
        gc.collect()
        t0 = time.perf_counter()
        sol = bornagain(start)
        times["BornAgain"].append(time.perf_counter() - t0)
        print("  run: " + ", ".join(f"{v} {t[-1]:.2f} s" for v, t in times.items()),
              flush=True)
    if args.profile:
        for v in ("search only", "fit"):
            simulator_calls(v, lambda v=v: timed(v)[0])
    ba_values = {q.name: float(q.prior.from_unit(sol.x[i])) for i, q in enumerate(free.params)}
    ba_misfit = float(soft_l1(torch.from_numpy(np.asarray(sol.fun)))[0].mean())

    med = {v: float(np.median(t)) for v, t in times.items()}
    result, searched = results["fit"], results["search only"]
    for v in names[1:]:  # the fits agree whatever the path: same start, same simulator
        worst = max(abs(results[v].parameters[n] - result.parameters[n]) / result.std[n]
                    for n in truth)
        print(f"{v}: largest difference from the eager fit {worst:.3f} std")
    rows = [("network only", {**start}, float("nan"), 0.0),
            (f"deepgisas fit --model film ({result.extra['simulations']} simulations, "
             "each level's in one batch per step)", result.parameters, result.misfit,
             med["fit"]),
            (f"the same without profiles ({searched.extra['simulations']} simulations)",
             searched.parameters, searched.misfit, med["search only"]),
            (f"BornAgain 25 + least_squares ({nfev[0]} sims, {sol.message.strip()})",
             ba_values, ba_misfit, med["BornAgain"])]
    unit_errors = []
    for name, values, misfit, seconds in rows:
        unit, rel = errors(values, truth, width)
        unit_errors.append(unit)
        print(f"{name}:\n  time {seconds:8.2f} s   misfit {misfit:.6f}   mean |error|/width "
              f"{unit:.5f}   median relative error {rel:.5f}")
        print("  ", {n: round(v, 4) for n, v in values.items()})
    apart = {n: abs(result.parameters[n] - ba_values[n]) / result.std[n] for n in truth}
    print("deepgisas std:", {n: round(v, 4) for n, v in result.std.items()})
    print("|deepgisas - BornAgain| / deepgisas std:", {n: round(v, 2) for n, v in apart.items()})
    print(f"seed {seed}, medians of {len(times['fit'])}: BornAgain {med['BornAgain']:.1f} s; "
          + ", ".join(f"{v} {med[v]:.2f} s ({med['BornAgain'] / med[v]:.1f}x)" for v in names)
          + (f"; fused first pass {first:.0f} s" if args.fused else ""), flush=True)
    return {"times": times, "first": first, "apart": max(apart.values()),
            "sims": {**{v: results[v].extra["simulations"] for v in names},
                     "BornAgain": nfev[0]},
            "errors": dict(zip(("network", "deepgisas", "search only", "BornAgain"), unit_errors,
                               strict=True))}


def simulator_calls(variant: str, run: Callable[[], float]) -> None:
    """Prints where one run of ``run`` (a fit, returning its seconds) spends its time: the
    simulator's calls (``Problem.simulate``) grouped by grid (pixels), precision and batch
    rows, then everything else (scale fits, misfits, linear algebra, set-up)."""
    calls: dict[tuple[int, str, int], list[float]] = defaultdict(list)
    original = Problem.simulate

    def simulate(self: Problem, theta: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        out = original(self, theta)
        calls[(len(self.logd), str(self.dtype).split(".")[-1], len(theta))].append(
            time.perf_counter() - t0)
        return out

    Problem.simulate = simulate  # type: ignore[method-assign]
    try:
        total = run()
    finally:
        Problem.simulate = original  # type: ignore[method-assign]
    inside = sum(sum(t) for t in calls.values())
    print(f"profile of one eager {variant}: {total:.3f} s, {inside:.3f} s ({inside / total:.0%})"
          " in the simulator")
    for (pixels, dtype, rows), t in sorted(calls.items()):
        print(f"  {pixels:6d} pixels {dtype:8s} {rows:3d} rows: {len(t):3d} calls, "
              f"{sum(t) * 1e3:7.1f} ms, {sum(t) / len(t) * 1e3:6.1f} ms per call, "
              f"{sum(t) / len(t) / rows * 1e3:5.2f} ms per simulation")
    print(f"  everything else: {(total - inside) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
