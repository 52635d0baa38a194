"""Single pixels against BornAgain 25 on several spherical-detector grids: the largest relative
difference of a pixel and the relative L2 of the image, for the dilute sphere (tests/cases.py)
on 8 x 8 to 128 x 128 pixels, a +-20 deg detector, a detector that reaches below the sample
horizon, and the film template's draw. Pixel-size-squared or exit-wave errors show up here as
single pixels long before they move the relative L2 that the tests assert.

    python benchmarks/detector_agreement.py [--threads 1] [--markdown]

``--markdown`` writes the table into docs/benchmarks.md ("Detector pixels").
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
from _docs import add_markdown_option, ran, write_section  # type: ignore[import-not-found]

import deepgisas as dg
from deepgisas.parse import parse_experiment
from deepgisas.reference import bornagain_simulate
from deepgisas.templates import draw_parameters, instantiate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.cases import CASES  # noqa: E402

GRIDS = [  # (case, pixels per side, phi_deg, alpha_deg); None keeps the case's range
    ("sphere-dilute", 8, None, None), ("sphere-dilute", 16, None, None),
    ("sphere-dilute", 64, None, None), ("sphere-dilute", 128, None, None),
    ("hex-xi10", 96, None, None), ("sphere-dilute", 16, [-20.0, 25.0], [-5.0, 15.0]),
    ("sphere-dilute", 24, None, [-0.6, 0.6]), ("buried-deposit-middle", 24, None, [-0.6, 0.6]),
]


def report(name: str, ours: np.ndarray, ref: np.ndarray) -> str:
    """Prints one grid's figures and returns them as a table row."""
    l2 = np.linalg.norm(ours - ref) / np.linalg.norm(ref)
    pixel = np.abs(ours / ref - 1).max()
    print(f"{name:58s} largest pixel {pixel:.1e}, relative L2 {l2:.1e}")
    return f"| {name} | {pixel:.1e} | {l2:.1e} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="BornAgain's threads")
    add_markdown_option(ap)
    args = ap.parse_args()
    rows = []
    for case, n, phi, alpha in GRIDS:
        d = copy.deepcopy(CASES[case])
        d["detector"]["spherical"]["shape"] = [n, n]
        if phi is not None:
            d["detector"]["spherical"]["phi_deg"] = phi
        if alpha is not None:
            d["detector"]["spherical"]["alpha_deg"] = alpha
        e = parse_experiment(d)
        g = d["detector"]["spherical"]
        rows.append(report(f"{case} {n} x {n}, phi {g['phi_deg']}, alpha {g['alpha_deg']}",
               dg.simulate(e, mixed=False), bornagain_simulate(e, threads=args.threads)))
    t = dg.load("film")
    e = instantiate(t, draw_parameters(t, 1, seed=2))[0]
    rows.append(report("film, seed 2, 128 x 128", dg.simulate(e, mixed=False),
                       bornagain_simulate(e, threads=args.threads)))
    if args.write:
        write_section("## Detector pixels", [
            f"{ran()}: single pixels of spherical detectors against BornAgain 25 (float64).",
            "", "| case and grid | largest pixel difference | relative L2 |", "|---|---|---|",
            *rows])


if __name__ == "__main__":
    main()
