"""How often each start reaches the global optimum, and how far the orientation fit gets.

Film (128 x 128, the bundled model's grid): for ``--cases`` draws from the priors (Poisson
noise, ``--counts`` at the 99th percentile), fit from (a) the bundled network's prediction
(``deepgisas fit --model film``: its mean and draws from its Gaussian, nuisance from prior
points) and (b) the prior alone (its centre and Sobol points, screened, the best raced), and
polish the truth itself (Levenberg-Marquardt from the true values) as a reference. A fit
reaches the global optimum when its misfit is within ``--tol`` (relative) of the lowest of the
three. Also prints how often the Laplace standard
deviations cover the truth (|error| < 2 std).

Hex orientation (``--orientation N``): N draws of the talk's sample (64 x 64, nuisance unknown);
the NNLS fit with the nuisance search, against the bundled hex-orientation network's
distribution (on its 256 x 256 grid); error = total variation distance between distributions
smoothed over +-1 bin, and the misfit of the true pattern for reference (a fitted misfit
below it means the data cannot tell the two distributions apart). Usage:

    python benchmarks/fit_starts.py [--cases 5] [--orientation 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import deepgisas as dg
from deepgisas.data.labels import LabelSpace, xi_histogram
from deepgisas.fit import FitConfig, fit_image, fit_orientation, free_tensors
from deepgisas.fit.files import network_starts
from deepgisas.fit.levenberg import DELTA
from deepgisas.predict import predict_arrays
from deepgisas.sample import parse_experiment
from deepgisas.templates import draw_parameters, instantiate


def noisy(img: np.ndarray, counts: float, seed: int) -> np.ndarray:
    k = counts / np.nanpercentile(img, 99)
    return np.random.default_rng(seed).poisson(img * k) / k


def film_cases(n: int, counts: float, tol: float) -> None:
    template = dg.load("film")
    free = free_tensors(template)
    hits = {"network": 0, "prior": 0}
    times: dict[str, list[float]] = {"network": [], "prior": []}
    covered = total = 0
    for case in range(n):
        seed = 100 + case
        draws = draw_parameters(template, 1, seed=seed)
        truth = {q.name: draws[q.path][0] for q in free.params}
        data = noisy(dg.simulate(instantiate(template, draws)[0]), counts, seed)
        net = predict_arrays("film", data[None])[0]
        t0 = time.perf_counter()
        a = fit_image(template, data, start=network_starts(net, template))
        ta = time.perf_counter() - t0
        t0 = time.perf_counter()
        b = fit_image(template, data)
        tb = time.perf_counter() - t0
        ref = fit_image(template, data, start=truth, config=FitConfig())
        best = min(a.misfit, b.misfit, ref.misfit)
        ok = {"network": a.misfit <= best * (1 + tol), "prior": b.misfit <= best * (1 + tol)}
        for k in hits:
            hits[k] += ok[k]
        winner = min((a, b), key=lambda r: r.misfit)
        for name, v in truth.items():
            covered += abs(winner.parameters[name] - v) < 2 * winner.std[name]
            total += 1
        times["network"].append(ta)
        times["prior"].append(tb)
        print(f"case {case}: misfit network {a.misfit:.5f} ({ta:.1f} s), prior {b.misfit:.5f} "
              f"({tb:.1f} s), truth polished {ref.misfit:.5f}; reached: {ok}")
    print(f"film: global optimum reached from the network start {hits['network']}/{n} (median "
          f"{np.median(times['network']):.1f} s), from prior starts {hits['prior']}/{n} (median "
          f"{np.median(times['prior']):.1f} s); |error| < 2 std: {covered}/{total}")


def smooth(p: np.ndarray) -> np.ndarray:
    return (np.roll(p, -1) + p + np.roll(p, 1)) / 3


def tv(q: np.ndarray, truth: np.ndarray) -> float:
    """Total variation distance of distributions smoothed over +-1 bin."""
    return float(0.5 * np.abs(smooth(q) - smooth(truth)).sum())


def orientation_cases(n: int, counts: float) -> None:
    big = dg.load("hex-orientation")
    d = big.to_dict()
    d["detector"]["spherical"]["shape"] = [64, 64]
    small = parse_experiment(d)
    bins = LabelSpace.of(big).bins
    for case in range(n):
        draws = draw_parameters(big, 1, seed=200 + case)
        path = LabelSpace.of(big).orientation
        assert path is not None
        truth = xi_histogram(draws[path], bins)[0].astype(float)
        img_big = noisy(dg.simulate(instantiate(big, draws)[0]), counts, case)
        clean = dg.simulate(instantiate(small, draws)[0])
        img = noisy(clean, counts, case)
        net = np.array(predict_arrays("hex-orientation", img_big[None])[0]["probability"])
        t0 = time.perf_counter()
        r = fit_orientation(small, img)
        tf = time.perf_counter() - t0
        nuisance = {k: v[0] for k, v in draws.items() if k != path}
        known = fit_orientation(small, img, fixed=nuisance)
        p, pk = np.array(r.extra["probability"]), np.array(known.extra["probability"])
        ok = np.isfinite(img)
        c = FitConfig().floor * float(np.percentile(img[ok & (img > 0)], 99))
        x = (np.log(clean[ok] + c) - np.log(np.clip(img[ok], 0, None) + c)) / DELTA
        truth_misfit = float((2 * DELTA**2 * (np.sqrt(1 + x * x) - 1)).mean())
        print(f"orientation case {case}: TV distance network {tv(net, truth):.3f}, NNLS with "
              f"nuisance search {tv(p, truth):.3f} ({tf:.0f} s, misfit {r.misfit:.4f}), "
              f"NNLS at the true nuisance {tv(pk, truth):.3f} (misfit {known.misfit:.4f}); "
              f"the truth's own misfit {truth_misfit:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=5)
    ap.add_argument("--orientation", type=int, default=2)
    ap.add_argument("--counts", type=float, default=1e4)
    ap.add_argument("--tol", type=float, default=0.01)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.cases:
        film_cases(args.cases, args.counts, args.tol)
    if args.orientation:
        orientation_cases(args.orientation, args.counts)


if __name__ == "__main__":
    main()
