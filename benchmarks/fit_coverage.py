"""Are the fit's error bars right? Coverage of the truth on simulations the fit has not seen.

Draws ``--n`` experiments from the bundled ``film`` priors (seeded), simulates each with
BornAgain 25 (``--data bornagain``, the default) or with deepgisas, and counts them with
Poisson noise at each exposure of ``--exposures`` (fractions of the template's beam
intensity: 1 and 0.01 by default). Each image is fitted as ``deepgisas fit film IMAGE --model
film`` does (the bundled network's prediction as the start; ``--no-model``: prior starts),
with ``--objective`` (auto: Poisson, the images hold counts). Prints, per exposure and
parameter, the median relative error, the fraction of truths within 1 and 2 reported standard
deviations (goal 68 +- 7 % and 95 +- 4 %), how many fits ended at a prior's bound (no std:
left out of the fractions), how many truths lie beyond 4 std (a fit in the wrong valley, not
a too-small error) and the goodness of fit. ``--markdown`` puts the table into
docs/benchmarks.md. BornAgain's images are cached in ``--cache`` (they take ~10 s each);
``--noise-draws R`` counts each R times (R fits per simulation, for tighter fractions);
``--jobs J`` fits J images at once, each in its own process with ``--threads`` threads.
``--dump FILE`` keeps every fit (JSON); ``--pool FILE ...`` adds earlier runs' dumps (other
seeds, the same options) to this run's table, and ``--n 0 --pool ...`` tabulates dumps alone.

``--search-check --carry 1 3 --orders none 2,0.5 --profile 0 64``: does the search find the
best valley? Each image is also fitted from its truth (the truth's valley), and for each value
of ``FitConfig.carry``, ``FitConfig.orders`` ("none": no other orders tried) and
``FitConfig.profile`` (0: no parameter profiles) the script
counts the fits whose deviance ends more than 2 above that (a search failure the
goodness of fit cannot see), with their sum and the seconds per fit; ``--markdown`` puts that
table into the "Fit search" section instead.

    python benchmarks/fit_coverage.py [--n 64] [--seed 0] [--exposures 1 0.01] [--markdown]
    python benchmarks/fit_coverage.py --data deepgisas --n 32 --noise-draws 2 --exposures 1 \
        --search-check --carry 1 3 [--orders none 2,0.5] [--markdown]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _docs import add_markdown_option, ran, write_section  # type: ignore[import-not-found]
from scipy import stats

import deepgisas as dg
from deepgisas.data.stream import template_hash
from deepgisas.errors import UserError
from deepgisas.fit import FitConfig, fit_image
from deepgisas.fit.tensors import free_tensors
from deepgisas.predict import Predictor
from deepgisas.templates import draw_parameters, instantiate


def clean_images(n: int, seed: int, data: str, cache: Path) -> tuple[list[dict], list]:
    """The truths (short name -> value) and clean images (None: refused by BornAgain)."""
    template = dg.load("film")
    free = free_tensors(template)
    draws = draw_parameters(template, n, seed=seed)
    truths, images = [], []
    for i in range(n):
        one = {k: [v[i]] for k, v in draws.items()}
        truths.append({q.name: float(one[q.path][0]) for q in free.params})
        # keyed by the drawn values: draws of the same seed differ with n
        values = json.dumps({k: float(v[0]) for k, v in sorted(one.items())})
        path = cache / (f"film_{template_hash(template):x}_{data}_"
                        f"{hashlib.sha1(values.encode()).hexdigest()[:16]}.npy")
        if path.exists():
            images.append(np.load(path))
            continue
        e = instantiate(template, one)[0]
        try:
            if data == "bornagain":
                from deepgisas.reference import bornagain_simulate

                img = bornagain_simulate(e, threads=2)
            else:
                img = dg.simulate(e)
        except RuntimeError as err:  # "Volume of sample components exceeds base volume"
            print(f"draw {i}: refused by BornAgain ({str(err).splitlines()[-1][:80]})")
            img = np.full(template.base.detector.shape, np.nan)
        np.save(path, img)
        images.append(img)
        print(f"simulated draw {i + 1}/{n}", flush=True)
    return truths, [None if np.isnan(img).all() else img for img in images]


_WORKER: dict[str, Any] = {}


def _init_worker(threads: int, no_model: bool, cfg: FitConfig) -> None:
    torch.set_num_threads(threads)
    _WORKER.update(template=dg.load("film"), cfg=cfg,
                   predictor=None if no_model else Predictor("film"))


def _fit_one(case: tuple[dict[str, float], np.ndarray]) -> tuple[Any, str | None, float]:
    """One image fitted as the CLI does: (result, None, seconds) or (None, why, 0). A
    likelihood fit's ``extra["truth_excess"]``: the truth's deviance (at its best scale and
    background) minus the answer's (:func:`truth_excess`)."""
    truth, data = case
    t0 = time.perf_counter()
    predictor = _WORKER["predictor"]
    start = predictor(data[None])[0] if predictor is not None else None
    try:
        r = fit_image(_WORKER["template"], data, start=start, config=_WORKER["cfg"])
    except UserError as err:  # e.g. too few counts to fit at all
        return None, str(err), 0.0
    seconds = time.perf_counter() - t0
    gof = r.extra.get("goodness_of_fit")
    if gof is not None:
        r.extra["truth_excess"] = truth_excess(_WORKER["template"], data, truth,
                                               _WORKER["cfg"], gof["objective"]) - gof["deviance"]
    return r, None, seconds


def truth_excess(template: dg.Template, data: np.ndarray, truth: dict[str, float],
                 cfg: FitConfig, objective: str) -> float:
    """The deviance of the truth on the full detector at its best scale and background, as
    the fit measures its own: minus the answer's, the likelihood-ratio statistic, chi^2 with
    as many degrees of freedom as fitted parameters when the model is exact and the answer
    the likelihood's maximum; below 0 when the truth's valley is deeper than the answer's (a
    search failure)."""
    from deepgisas.fit import levenberg as lm
    from deepgisas.fit.problem import Problem, masked

    d = masked(template, data, None)
    free = free_tensors(template)
    c = cfg.floor * float(np.percentile(d[np.isfinite(d) & (d > 0)], 99))
    fine = Problem(free, d, c, 1, torch.float64, objective)
    theta = torch.tensor([[float(q.prior.to_unit(truth[q.name])) for q in free.params]],
                         dtype=torch.float64)
    return float(lm.fit_scale(fine, lm.simulate(fine, theta))[2][0])


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    args.cache.mkdir(parents=True, exist_ok=True)
    truths, images = clean_images(args.n, args.seed, args.data, args.cache)
    cfg = FitConfig(objective=args.objective, tol=args.tol)
    init = (args.threads, args.no_model, cfg)
    pool = (multiprocessing.get_context("spawn").Pool(args.jobs, _init_worker, init)
            if args.jobs > 1 else None)
    if pool is None:
        _init_worker(*init)
    out: dict[str, Any] = {}
    try:
        for exposure in args.exposures:
            rng = np.random.default_rng(args.seed + 1)
            cases = [(truth, rng.poisson(np.clip(clean, 0, None) * exposure).astype(np.float64))
                     for truth, clean in zip(truths, images, strict=True)
                     for _ in range(args.noise_draws) if clean is not None]
            fitted = (pool.map(_fit_one, cases, chunksize=1) if pool is not None
                      else [_fit_one(c) for c in cases])
            own = [record(truth, r, sec) for (truth, _), (r, _, sec)
                   in zip(cases, fitted, strict=True) if r is not None]
            own_faint = sum(r is None for r, _, _ in fitted)
            fits = list(own)  # with earlier runs' fits at this exposure
            not_fitted: int | None = own_faint
            for dump in args.pool:
                earlier = json.loads(dump.read_text()).get(str(exposure), [])
                if isinstance(earlier, list):  # a dump that kept the fits only
                    fits, not_fitted = fits + earlier, None
                else:
                    fits += earlier["fits"]
                    not_fitted = (None if not_fitted is None
                                  else not_fitted + earlier["not_fitted"])
            out[exposure] = summarise(fits)
            out[exposure].update(not_fitted=not_fitted, pooled=len(fits) - len(own), own=own,
                                 own_faint=own_faint)
            print_table(exposure, out[exposure])
    finally:
        if pool is not None:
            pool.close()
    return out


def search_check(args: argparse.Namespace) -> dict[str, Any]:
    """Per exposure, carry, orders and profile: fits, those ending more than 2 in deviance above
    the fit from the truth, their summed excess, the largest, and the median seconds per fit."""
    torch.set_num_threads(args.threads)
    args.cache.mkdir(parents=True, exist_ok=True)
    truths, images = clean_images(args.n, args.seed, args.data, args.cache)
    template = dg.load("film")
    predictor = Predictor("film")
    base = FitConfig(objective=args.objective, tol=args.tol)
    out: dict[str, Any] = {}
    for exposure in args.exposures:
        rng = np.random.default_rng(args.seed + 1)
        cases = [(t, rng.poisson(np.clip(c, 0, None) * exposure).astype(np.float64))
                 for t, c in zip(truths, images, strict=True) if c is not None
                 for _ in range(args.noise_draws)]
        ref, spread = [], []
        for truth, data in cases:
            try:
                r = fit_image(template, data, start=truth, config=base)
                ref.append(r.extra["goodness_of_fit"]["deviance"])
                spread.append(r.extra["goodness_of_fit"]["expected_std"])
            except UserError:
                ref.append(None)
        for carry, orders, profile in ((c, o, p) for c in args.carry for o in args.orders
                                       for p in args.profile):
            cfg = dataclasses.replace(base, carry=carry, orders=_orders(orders),
                                      profile=profile)
            excess, seconds = [], []
            for (_, data), dev in zip(cases, ref, strict=True):
                if dev is None:
                    continue
                t0 = time.perf_counter()
                r = fit_image(template, data, start=predictor(data[None])[0], config=cfg)
                seconds.append(time.perf_counter() - t0)
                excess.append(r.extra["goodness_of_fit"]["deviance"] - dev)
            e = np.asarray(excess)
            row = {"fits": len(e), "failed": int((e > 2).sum()),
                   "excess": float(e[e > 2].sum()), "largest": float(e.max()),
                   "median_seconds": float(np.median(seconds)),
                   "mean_seconds": float(np.mean(seconds)),
                   "deviance_spread": float(np.median(spread))}
            out[f"{exposure:g}/{carry}/{orders}/{profile}"] = row
            print(f"exposure {exposure:g} carry {carry} orders {orders} profile {profile}: "
                  f"{row['failed']} of "
                  f"{row['fits']} fits end > 2 above the truth's valley (excess "
                  f"{row['excess']:.1f}, largest {row['largest']:.1f}); "
                  f"{row['median_seconds']:.2f} s median, "
                  f"{row['mean_seconds']:.2f} s mean per fit", flush=True)
    return out


def _orders(text: str) -> tuple[float, ...]:
    return () if text == "none" else tuple(float(v) for v in text.split(","))


def write_search(out: dict[str, Any]) -> None:
    lines = [f"{ran()}: each image fitted as `deepgisas fit film IMAGE --model film` does, "
             "and from its truth. A fit that ends more than 2 in deviance above the truth's "
             "valley is a search failure, which the goodness of fit does not see: the "
             "deviance's own spread (the median of its expected std) is "
             f"{np.median([r['deviance_spread'] for r in out.values()]):.0f}.",
             "", "| exposure | carry | orders | profile | fits | above the truth's valley | "
             "summed excess | largest | median s | mean s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in out.items():
        exposure, carry, orders, profile = key.split("/")
        lines.append(f"| {exposure} | {carry} | {orders} | {profile} | {r['fits']} | "
                     f"{r['failed']} | "
                     f"{r['excess']:.1f} | {r['largest']:.1f} | {r['median_seconds']:.2f} | "
                     f"{r['mean_seconds']:.2f} |")
    lines.append("")
    write_section("## Fit search", lines)


def record(truth: dict[str, float], r: Any, seconds: float) -> dict[str, Any]:
    """One fit as the dump (``--dump``) keeps it, and as :func:`summarise` reads it."""
    return {"truth": truth, "parameters": r.parameters, "std": r.std,
            "intervals": r.extra.get("intervals", {}), "misfit": r.misfit,
            "gof": r.extra.get("goodness_of_fit", {}),
            "at_bound": sorted(r.extra.get("at_bound", {})),
            "truth_excess": r.extra.get("truth_excess"), "seconds": seconds,
            "objective": r.extra.get("objective")}


def summarise(fits: list[dict[str, Any]]) -> dict[str, Any]:
    """The coverage table of fit records (:func:`record`; earlier runs' dumps too: a record
    without seconds or objective is left out of those two figures only)."""
    names = list(fits[0]["truth"])
    table = {}
    for k in names:
        rel, z, bound = [], [], 0
        inside: dict[str, list[bool]] = {"68": [], "95": []}
        for f in fits:
            truth, value = f["truth"][k], f["parameters"][k]
            rel.append(abs(value - truth) / abs(truth))
            s = f["std"].get(k, np.nan)
            if s is None or k in f["at_bound"] or not np.isfinite(s):
                bound += 1
                continue
            z.append(abs(value - truth) / s)
            ends = f.get("intervals", {}).get(k)
            for level in inside if ends else ():
                inside[level].append(ends[level][0] <= truth <= ends[level][1])
        za = np.asarray(z)
        table[k] = {"median_rel_error": float(np.median(rel)),
                    "within_1std": float(np.mean(za < 1)) if za.size else float("nan"),
                    "within_2std": float(np.mean(za < 2)) if za.size else float("nan"),
                    **{f"within_{level}": float(np.mean(v)) if v else float("nan")
                       for level, v in inside.items()},
                    "beyond_4std": int((za > 4).sum()), "at_bound": bound, "n": len(fits)}
    excess = np.array([f["truth_excess"] for f in fits if f.get("truth_excess") is not None])
    ratio = {}
    if excess.size:
        dof = len(names)
        ratio = {"dof": dof, "median": float(np.median(excess)),
                 "q95": float(np.quantile(excess, 0.95)),
                 "chi2_median": float(stats.chi2.median(dof)),
                 "chi2_q95": float(stats.chi2.ppf(0.95, dof)),
                 "beyond_chi2_q95": float(np.mean(excess > stats.chi2.ppf(0.95, dof))),
                 "truth_deeper": int((excess < -2).sum())}
    seconds = [f["seconds"] for f in fits if f.get("seconds") is not None]
    return {"parameters": table, "n": len(fits), "fits": fits, "likelihood_ratio": ratio,
            "described": float(np.mean([f["gof"].get("described", False) for f in fits])),
            "median_per_dof": float(np.median([f["gof"].get("per_dof", np.nan)
                                               for f in fits])),
            "median_seconds": float(np.median(seconds)) if seconds else float("nan"),
            "objective": next((f["objective"] for f in fits if f.get("objective")),
                              fits[0]["gof"].get("objective"))}


def faint(s: dict[str, Any]) -> str:
    n = s.get("not_fitted")
    return ("images too faint to fit: not counted by every pooled run" if n is None
            else f"{n} images too faint to fit")


def seconds(s: dict[str, Any]) -> str:
    t = s["median_seconds"]
    return f"median {t:.2f} s per fit" if np.isfinite(t) else "seconds per fit not recorded"


def print_table(exposure: float, s: dict[str, Any]) -> None:
    print(f"\nexposure {exposure:g} x the template's intensity: {s['n']} fits "
          f"({faint(s)}), objective "
          f"{s['objective']}, {s['described']:.0%} described by the model (median deviance "
          f"per dof {s['median_per_dof']:.3f}), {seconds(s)}")
    print(f"{'parameter':14s} {'median rel err':>15s} {'within 1 std':>13s} "
          f"{'within 2 std':>13s} {'in 68 % int.':>13s} {'in 95 % int.':>13s} "
          f"{'beyond 4 std':>13s} {'at bound':>9s}")
    for k, v in s["parameters"].items():
        print(f"{k:14s} {v['median_rel_error']:15.2%} {v['within_1std']:13.0%} "
              f"{v['within_2std']:13.0%} {v['within_68']:13.0%} {v['within_95']:13.0%} "
              f"{v['beyond_4std']:13d} {v['at_bound']:9d}")
    if s["likelihood_ratio"]:
        print(ratio_text(s["likelihood_ratio"]))


def ratio_text(lr: dict[str, Any]) -> str:
    return (f"The truth's deviance above the answer's (likelihood ratio; chi^2 with "
            f"{lr['dof']} dof when the model is exact): median {lr['median']:.1f} (chi^2: "
            f"{lr['chi2_median']:.1f}), 95 % quantile {lr['q95']:.1f} (chi^2: "
            f"{lr['chi2_q95']:.1f}), {lr['beyond_chi2_q95']:.0%} beyond chi^2's 95 % quantile; "
            f"the truth's valley deeper than the answer's (a search failure): "
            f"{lr['truth_deeper']}.")


def write(out: dict[str, Any]) -> None:
    """Replace the fit-coverage section of docs/benchmarks.md."""
    lines = [f"{ran()}. Goal: 68 +- 7 % within 1 std, 95 +- 4 % within 2 std. The truth "
             "within the fit's Fisher errors (1 and 2 std) and within its 68 and 95 % "
             "profile-likelihood intervals (`intervals` in the JSON).", ""]
    for exposure, s in out.items():
        pooled = ("" if not s.get("pooled") else " (all from `--pool`'s dumps)"
                  if s["pooled"] == s["n"] else f" ({s['pooled']} from `--pool`'s dumps)")
        lines += [f"Exposure {exposure:g} x the template's intensity: {s['n']} fits{pooled}; "
                  f"{faint(s)}; objective {s['objective']}; {s['described']:.0%} described by "
                  f"the model (median deviance per dof {s['median_per_dof']:.3f}); "
                  f"{seconds(s)}.", "",
                  "| parameter | median relative error | within 1 std | within 2 std | "
                  "within 68 % interval | within 95 % interval | beyond 4 std | at a bound |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {k} | {v['median_rel_error']:.2%} | {v['within_1std']:.0%} | "
                  f"{v['within_2std']:.0%} | {v['within_68']:.0%} | {v['within_95']:.0%} | "
                  f"{v['beyond_4std']} | {v['at_bound']} |"
                  for k, v in s["parameters"].items()]
        lines.append("")
        if s["likelihood_ratio"]:
            lines += [ratio_text(s["likelihood_ratio"]), ""]
    write_section("## Fit coverage", lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", choices=("bornagain", "deepgisas"), default="bornagain")
    p.add_argument("--exposures", type=float, nargs="+", default=[1.0, 0.01])
    p.add_argument("--objective", default="auto")
    p.add_argument("--no-model", action="store_true")
    p.add_argument("--noise-draws", type=int, default=1,
                   help="Poisson realisations per simulated image (more fits per BornAgain run)")
    p.add_argument("--tol", type=float, default=FitConfig.tol,
                   help="the fit's stopping step, in standard deviations")
    p.add_argument("--threads", type=int, default=1, help="torch threads per fit")
    p.add_argument("--jobs", type=int, default=1,
                   help="fits at once, each in its own process (the answers do not change; the "
                        "seconds per fit are each process's own)")
    p.add_argument("--cache", type=Path, default=Path("/tmp/deepgisas-fit-coverage"))
    p.add_argument("--dump", type=Path, help="write every fit's truth, answer and std (JSON)")
    p.add_argument("--pool", type=Path, nargs="+", default=[],
                   help="earlier runs' --dump files: their fits join this run's table (other "
                        "seeds of the same options, for tighter fractions)")
    p.add_argument("--search-check", action="store_true",
                   help="count fits that end above the truth's valley, per --carry")
    p.add_argument("--carry", type=int, nargs="+", default=[FitConfig.carry])
    p.add_argument("--orders", nargs="+", default=[",".join(f"{v:g}" for v in
                                                          FitConfig.orders) or "none"],
                   help="FitConfig.orders to compare: 'none' or factors like 2,0.5")
    p.add_argument("--profile", type=int, nargs="+", default=[FitConfig.profile],
                   help="FitConfig.profile to compare (points of the spacing's profile, 0: off)")
    add_markdown_option(p)
    args = p.parse_args()
    if args.search_check:
        found = search_check(args)
        if args.write:
            write_search(found)
        return
    out = run(args)
    if args.dump is not None:
        # this run's fits only, so that pooling the dump later counts no fit twice
        args.dump.write_text(json.dumps({str(k): {"fits": v["own"],
                                                  "not_fitted": v["own_faint"], "run": ran()}
                                         for k, v in out.items()}))
    if args.write:
        write(out)


if __name__ == "__main__":
    main()
