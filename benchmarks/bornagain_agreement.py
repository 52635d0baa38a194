"""How closely deepgisas reproduces BornAgain 25: the relative L2 difference of the images
(float64, mixed precision and float32) for the cases of
tests/physics/test_bornagain_equivalence.py, and for the film template (one draw, its 128 x 128
detector) also the largest relative difference of a pixel. The test asserts the bars (1e-5 in
float64 and mixed, 1e-4 in float32); this prints the values,
and ``--markdown`` writes them by family of cases into docs/benchmarks.md ("BornAgain
agreement").

    python benchmarks/bornagain_agreement.py [--seed 2] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from _docs import add_markdown_option, ran, write_section  # type: ignore[import-not-found]

import deepgisas as dg
from deepgisas.parse import parse_experiment
from deepgisas.reference import bornagain_simulate
from deepgisas.templates import draw_parameters, instantiate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.cases import CASES  # noqa: E402


def rel_l2(ours: np.ndarray, ref: np.ndarray) -> float:
    m = np.isfinite(ref)
    return float(np.linalg.norm(ours[m] - ref[m]) / np.linalg.norm(ref[m]))


FAMILIES = (  # (family, name prefixes), the first match wins
    ("below the sample horizon", ("below-horizon",)),
    ("particles across interfaces, buried", ("crossing", "buried")),
    ("core-shell particles", ("core-shell",)),
    ("instrument: divergence, resolution, phi_i, wavelength spread, ROI and masks",
     ("divergence", "resolution", "phi_i", "wavelength", "roi")),
    ("paracrystals", ("paracrystal", "cone-paracrystal")),
    ("lattice domains", ("hex", "square", "pyramid4")),
    ("rough interfaces", ("roughness",)),
    ("particle shapes, dilute", ("",)),
)


def family(name: str) -> str:
    return next(f for f, prefixes in FAMILIES if name.startswith(prefixes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=2, help="the film draw")
    add_markdown_option(ap)
    args = ap.parse_args()
    l64, lmx, l32 = [], [], []
    for name in sorted(CASES):
        e = parse_experiment(CASES[name])
        ref = bornagain_simulate(e, threads=2)
        l64.append(rel_l2(dg.simulate(e, mixed=False), ref))
        lmx.append(rel_l2(dg.simulate_batch([e], mixed=True)[0], ref))
        l32.append(rel_l2(dg.simulate_batch([e], dtype=torch.float32)[0], ref))
        print(f"{name:32s} float64 {l64[-1]:.1e}   mixed {lmx[-1]:.1e}   float32 {l32[-1]:.1e}")
    print(f"{len(CASES)} cases: float64 {min(l64):.1e} to {max(l64):.1e}, "
          f"mixed {min(lmx):.1e} to {max(lmx):.1e}, float32 {min(l32):.1e} to {max(l32):.1e}")
    t = dg.load("film")
    e = instantiate(t, draw_parameters(t, 1, seed=args.seed))[0]
    ours, ref = dg.simulate(e, mixed=False), bornagain_simulate(e, threads=2)
    film_l2, film_px = rel_l2(ours, ref), float(np.nanmax(np.abs(ours / ref - 1)))
    print(f"film, seed {args.seed}: relative L2 {film_l2:.1e}, largest pixel {film_px:.1e}")
    if args.write:
        names = sorted(CASES)
        rows = []
        for fam, _ in FAMILIES:
            idx = [i for i, n in enumerate(names) if family(n) == fam]
            rows.append(f"| {fam} | {len(idx)} | {max(l64[i] for i in idx):.1e} | "
                        f"{max(lmx[i] for i in idx):.1e} | {max(l32[i] for i in idx):.1e} |")
        write_section("## BornAgain agreement", [
            f"{ran()}: the relative L2 difference between deepgisas and BornAgain 25 over the "
            "detector, for the test cases of tests/cases.py (largest of each family). "
            "The tests assert 1e-5 (float64 and mixed precision: `simulate_batch(..., "
            "mixed=True)`) and 1e-4 (float32).", "",
            "| cases | number | float64 | mixed | float32 |", "|---|---|---|---|---|", *rows,
            f"| all | {len(names)} | {min(l64):.1e} to {max(l64):.1e} | "
            f"{min(lmx):.1e} to {max(lmx):.1e} | {min(l32):.1e} to {max(l32):.1e} |", "",
            f"The `film` template's draw of seed {args.seed} (128 x 128): relative L2 "
            f"{film_l2:.1e}, largest pixel difference {film_px:.1e}."])


if __name__ == "__main__":
    main()
