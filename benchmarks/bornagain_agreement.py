"""How closely deepgisas reproduces BornAgain 25: the relative L2 difference of the images
(float64 and float32) for the cases of tests/physics/test_bornagain_equivalence.py, and for
the film template (one draw, its 128 x 128 detector) also the largest relative difference of a
pixel. The test asserts the bars (1e-5 in float64, 1e-4 in float32); this prints the values.

    python benchmarks/bornagain_agreement.py [--seed 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

import deepgisas as dg
from deepgisas.parse import parse_experiment
from deepgisas.reference import bornagain_simulate
from deepgisas.templates import draw_parameters, instantiate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.cases import CASES  # noqa: E402


def rel_l2(ours: np.ndarray, ref: np.ndarray) -> float:
    m = np.isfinite(ref)
    return float(np.linalg.norm(ours[m] - ref[m]) / np.linalg.norm(ref[m]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=2, help="the film draw")
    args = ap.parse_args()
    l64, l32 = [], []
    for name in sorted(CASES):
        e = parse_experiment(CASES[name])
        ref = bornagain_simulate(e, threads=2)
        l64.append(rel_l2(dg.simulate(e), ref))
        l32.append(rel_l2(dg.simulate_batch([e], dtype=torch.float32)[0], ref))
        print(f"{name:32s} float64 {l64[-1]:.1e}   float32 {l32[-1]:.1e}")
    print(f"{len(CASES)} cases: float64 {min(l64):.1e} to {max(l64):.1e}, "
          f"float32 {min(l32):.1e} to {max(l32):.1e}")
    t = dg.load("film")
    e = instantiate(t, draw_parameters(t, 1, seed=args.seed))[0]
    ours, ref = dg.simulate(e), bornagain_simulate(e, threads=2)
    print(f"film, seed {args.seed}: relative L2 {rel_l2(ours, ref):.1e}, largest pixel "
          f"{float(np.nanmax(np.abs(ours / ref - 1))):.1e}")


if __name__ == "__main__":
    main()
