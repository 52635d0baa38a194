"""How often each start reaches the global optimum, and how far the orientation fit gets.

Film (128 x 128, the bundled model's grid): for ``--cases`` draws from the priors (Poisson
noise, ``--counts`` at the 99th percentile), fit from (a) the bundled network's prediction
(``deepgisas fit --model film``: its mean and draws from its Gaussian, nuisance from prior
points) and (b) the prior alone (its centre and Sobol points, screened, the best raced), and
polish the truth itself (Levenberg-Marquardt from the true values) as a reference. A fit
reaches the global optimum when its misfit is within ``--tol`` (relative) of the lowest of the
three. Also prints how often the Laplace standard
deviations cover the truth (|error| < 2 std).

Hex orientation (``--orientation N``): the talk's expert guess, 0.7 / 0.3 at xi = 0 and 30
deg, with the nuisance (a, decay, R, position variance, wavelength, alpha_i) drawn from the
priors for N seeds, on a ``--orientation-size`` square detector (default 128; Poisson noise).
The orientation fit (scan of a / wavelength, joint refinement, bootstrap) runs (a) from the
prior alone, (b) with the bundled hex-orientation network's distribution (predicted on its own
256 x 256 grid) narrowing the scan's basis, (c) with the wavelength known. It prints how often
the misfit reaches the truth's own, the weights come within 0.1, a within 0.3 nm and a /
wavelength within 1 %, and how often NNLS at the true nuisance gets the weights (the ceiling
the data allow: a rotated domain often shows no rod on the detector). Usage:

    python benchmarks/fit_starts.py [--cases 5] [--orientation 2] [--orientation-size 128]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import deepgisas as dg
from deepgisas.data.labels import LabelSpace
from deepgisas.fit import FitConfig, fit_image, fit_orientation, free_tensors
from deepgisas.fit.files import network_starts
from deepgisas.fit.objectives import soft_l1
from deepgisas.physics.memory import retain_freed_memory
from deepgisas.predict import predict_arrays
from deepgisas.templates import draw_parameters, instantiate, parse_template

LOG = FitConfig(objective="log", explore=False)  # as this benchmark has measured so far


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
        a = fit_image(template, data, start=network_starts(net, template), config=LOG)
        ta = time.perf_counter() - t0
        t0 = time.perf_counter()
        b = fit_image(template, data, config=LOG)
        tb = time.perf_counter() - t0
        ref = fit_image(template, data, start=truth, config=LOG)
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


def near(p: np.ndarray, xi: float, reach: int = 1) -> float:
    """Weight within ``reach`` bins of xi (deg) on the 120-bin circle."""
    k = int(round(xi / 0.5))
    return float(p[[(k + j) % p.shape[0] for j in range(-reach, reach + 1)]].sum())


def orientation_cases(n: int, counts: float, size: int) -> None:
    """0.7 / 0.3 at xi = 0 and 30 deg, nuisance drawn from the prior, fit at size x size."""
    big = dg.load("hex-orientation")
    d = big.to_dict()
    d["detector"]["spherical"]["shape"] = [size, size]
    small = parse_template(d)
    path = LabelSpace.of(big).orientation
    assert path is not None
    keys = ("reached", "weights", "a", "a/wavelength")
    tally: dict[str, dict[str, int]] = {m: dict.fromkeys(keys, 0) for m in
                                        ("prior", "network", "wavelength known")}
    times: dict[str, list[float]] = {m: [] for m in tally}
    known_ok = 0
    for case in range(n):
        draws = draw_parameters(big, 1, seed=300 + case)
        draws[path] = [{"xi_deg": [0.0, 30.0], "weights": [0.7, 0.3]}]
        clean = dg.simulate(instantiate(small, draws)[0])
        img = noisy(clean, counts, case)
        net = predict_arrays("hex-orientation", noisy(dg.simulate(instantiate(big, draws)[0]),
                                                      counts, case)[None])[0]
        truth = {k: v[0] for k, v in draws.items() if k != path}
        a_true = truth["sample.interference.hexagonal_lattice.a_nm"]
        lam_true = truth["beam.wavelength_nm"]
        ok = np.isfinite(img)
        c = FitConfig().floor * float(np.percentile(img[ok & (img > 0)], 99))
        x = np.log(clean[ok] + c) - np.log(np.clip(img[ok], 0, None) + c)
        truth_misfit = float(soft_l1(torch.from_numpy(x))[0].mean())
        known = np.array(fit_orientation(small, img, fixed=truth, bootstrap=0
                                         ).extra["probability"])
        known_ok += abs(near(known, 0) - 0.7) < 0.1 and abs(near(known, 30) - 0.3) < 0.1
        pn = np.array(net["probability"])
        line = [f"orientation case {case}: a {a_true:.2f} nm, wavelength {lam_true:.4f} nm, "
                f"truth's misfit {truth_misfit:.5f}; at the true nuisance NNLS gives "
                f"{near(known, 0):.2f} / {near(known, 30):.2f}; network {near(pn, 0):.2f} / "
                f"{near(pn, 30):.2f}"]
        for mode in tally:
            t0 = time.perf_counter()
            r = fit_orientation(small, img, start=net if mode == "network" else None,
                                fixed={"wavelength_nm": lam_true} if mode.startswith("wave")
                                else None)
            times[mode].append(time.perf_counter() - t0)
            p = np.array(r.extra["probability"])
            a = r.parameters["a_nm"]
            lam = r.parameters.get("wavelength_nm", lam_true)
            hit = {"reached": r.misfit <= truth_misfit * 1.002,
                   "weights": abs(near(p, 0) - 0.7) < 0.1 and abs(near(p, 30) - 0.3) < 0.1,
                   "a": abs(a - a_true) < 0.3,
                   "a/wavelength": abs(a / lam / (a_true / lam_true) - 1) < 0.01}
            for k in keys:
                tally[mode][k] += bool(hit[k])
            peaks = ", ".join(f"{q['weight']:.2f}±{q['std']:.2f} (bootstrap ±"
                              f"{q['std_bootstrap']:.2f}) at {(q['xi_deg'] + 30) % 60 - 30:.1f}"
                              for q in r.extra["peaks"][:3])
            line.append(f"  {mode}: {times[mode][-1]:.0f} s, misfit {r.misfit:.5f}, peaks "
                        f"{peaks}; a {a:.2f}±{r.std.get('a_nm', float('nan')):.2f} nm")
        print("\n".join(line), flush=True)
    print(f"orientation ({size} x {size}, {counts:g} counts; weights within 0.1 of 0.7 / 0.3 "
          f"at +-0.5 deg, a within 0.3 nm, a / wavelength within 1 %, misfit at most the "
          f"truth's + 0.2 %); NNLS at the true nuisance gets the weights in {known_ok}/{n}:")
    for mode, t in tally.items():
        print(f"  {mode}: " + ", ".join(f"{k} {v}/{n}" for k, v in t.items())
              + f"; median {np.median(times[mode]):.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=5)
    ap.add_argument("--orientation", type=int, default=2)
    ap.add_argument("--orientation-size", type=int, default=128)
    ap.add_argument("--counts", type=float, default=1e4)
    ap.add_argument("--tol", type=float, default=0.01)
    args = ap.parse_args()
    torch.set_num_threads(1)
    retain_freed_memory()  # as the deepgisas command does (deepgisas.physics.memory)
    if args.cases:
        film_cases(args.cases, args.counts, args.tol)
    if args.orientation:
        orientation_cases(args.orientation, args.counts, args.orientation_size)


if __name__ == "__main__":
    main()
