"""BornAgain's GALAXI example end to end: the bundled ``galaxi`` template (BornAgain's
published model, particles crossing the HMDSO's top, rough films) fitted to images it has not
seen, and to the measured GALAXI file.

1. BornAgain 25 simulates the template at the published values (radius 5.75 nm, sigma 0.4,
   distance 53.6 nm; cached in ``--cache``); ``--seeds`` Poisson draws of it are fitted as
   ``deepgisas fit galaxi IMAGE`` does (prior starts, the Poisson objective). Prints each
   fit's values, reported std and (value - truth) / std, and how many truths lie within 1
   and 2 std (goal about 68 and 95 %).
2. With ``--real``: fits ../shared/data/real/galaxi_raw_data.tif.gz with
   ``--instrument galaxi`` (the bundled instrument file, alpha_i 0.275 deg) and writes the PNG
   to docs/figures/galaxi_real_fit.png.

``--markdown`` puts both into docs/benchmarks.md ("GALAXI").

    python benchmarks/galaxi.py [--seeds 8] [--real] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _docs import add_markdown_option, ran, write_section  # type: ignore[import-not-found]

import deepgisas as dg
from deepgisas.data.stream import template_hash
from deepgisas.fit import fit_image
from deepgisas.fit.files import fit_file, save_fit_png
from deepgisas.io.bundled import INSTRUMENTS

ROOT = Path(__file__).resolve().parents[1]
TRUTH = {"radius_nm": 5.75, "sigma": 0.4, "distance_nm": 53.6}
PATHS = {"radius_nm": "sample.particles.shape.sphere.radius_nm",
         "sigma": "sample.particles.size_distribution.lognormal.sigma",
         "distance_nm": "sample.interference.radial_paracrystal.distance_nm"}
REAL = ROOT.parent / "shared" / "data" / "real" / "galaxi_raw_data.tif.gz"
INSTRUMENT = INSTRUMENTS / "galaxi.yaml"
FIGURE = ROOT / "docs" / "figures" / "galaxi_real_fit.png"


def clean_image(template: dg.Template, cache: Path) -> np.ndarray:
    """BornAgain 25's image at the published values (NaN: masked)."""
    path = cache / f"galaxi_{template_hash(template):x}.npy"
    if path.exists():
        return np.load(path)
    from deepgisas.reference import bornagain_simulate

    e = template.at({PATHS[k]: v for k, v in TRUTH.items()})
    t0 = time.perf_counter()
    image = bornagain_simulate(e, threads=2)
    print(f"BornAgain 25: {time.perf_counter() - t0:.1f} s")
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, image)
    return image


def synthetic(seeds: int, cache: Path) -> list[str]:
    template = dg.load("galaxi")
    clean = clean_image(template, cache)
    rows, z_all = [], []
    for seed in range(seeds):
        counts = np.random.default_rng(seed).poisson(np.nan_to_num(clean)).astype(np.float64)
        counts[~np.isfinite(clean)] = np.nan
        r = fit_image(template, counts)
        z = {k: (r.parameters[k] - TRUTH[k]) / r.std[k] for k in TRUTH}
        z_all.append(z)
        rows.append(f"| {seed} | " + " | ".join(
            f"{r.parameters[k]:.4g} +- {r.std[k]:.2g} ({z[k]:+.2f})" for k in TRUTH)
            + f" | {r.seconds:.0f} |")
        print(rows[-1], flush=True)
    within = {k: (sum(abs(z[k]) <= 1 for z in z_all), sum(abs(z[k]) <= 2 for z in z_all))
              for k in TRUTH}
    summary = ", ".join(f"{k} {a}/{seeds} within 1 std, {b}/{seeds} within 2"
                        for k, (a, b) in within.items())
    print(summary)
    return ["Fits of BornAgain 25's image at the published values (radius 5.75 nm, sigma 0.4, "
            "distance 53.6 nm) with Poisson counts, one row per noise seed: value +- reported "
            "std ((value - truth) / std), seconds per fit.", "",
            "| seed | radius_nm | sigma | distance_nm | s |", "|---|---|---|---|---|",
            *rows, "", summary + "."]


def real() -> list[str]:
    r, image, spots = fit_file(dg.load("galaxi"), REAL, instrument=INSTRUMENT)
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    save_fit_png(image, r, dg.load("galaxi"), FIGURE, REAL.name, spots)
    out = {k: (round(v, 4), None if not np.isfinite(r.std[k]) else round(r.std[k], 4))
           for k, v in r.parameters.items()}
    print(json.dumps(out), f"{r.seconds:.0f} s; wrote {FIGURE}")
    bound = ", ".join(r.extra.get("at_bound", {})) or "none"
    return ["The measured file (`deepgisas fit galaxi ../shared/data/real/galaxi_raw_data.tif.gz "
            "--instrument galaxi`): "
            + ", ".join(f"{k} {v[0]:g}" + (f" +- {v[1]:g}" if v[1] is not None else "")
                        for k, v in out.items())
            + f" (at a prior's bound: {bound}; misfit {r.misfit:.4g}, objective "
            f"{r.extra.get('objective')}, {r.seconds:.0f} s). "
            "![GALAXI fit](figures/galaxi_real_fit.png)"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--real", action="store_true")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/deepgisas-galaxi"))
    add_markdown_option(ap)
    args = ap.parse_args()
    lines = [ran(), ""]
    if args.seeds:
        lines += synthetic(args.seeds, args.cache) + [""]
    if args.real:
        lines += real()
    if args.write:
        write_section("## GALAXI", lines)


if __name__ == "__main__":
    main()
